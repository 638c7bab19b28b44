//! One value per side of a TCP connection, indexed by side number.
//!
//! The flow table and the session keep their per-direction state (buffers,
//! body framing, WebSocket decoders, counters) in pairs and index them by
//! a side computed from the packet (`usize::from(bool)`, `1 - client`).
//! A plain `[T; 2]` indexed that way would panic on a side of 2; this type
//! cannot: side 0 is the flow's first sender and every other number is
//! side 1.

use std::ops::{Index, IndexMut};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sides<T>(pub [T; 2]);

impl<T> Sides<T> {
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }
}

impl<T> Index<usize> for Sides<T> {
    type Output = T;

    fn index(&self, side: usize) -> &T {
        let [first, second] = &self.0;
        if side == 0 { first } else { second }
    }
}

impl<T> IndexMut<usize> for Sides<T> {
    fn index_mut(&mut self, side: usize) -> &mut T {
        let [first, second] = &mut self.0;
        if side == 0 { first } else { second }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_side_but_zero_is_the_second() {
        let mut s = Sides([1, 2]);
        assert_eq!((s[0], s[1], s[7]), (1, 2, 2));
        s[usize::MAX] += 10;
        assert_eq!(s.0, [1, 12]);
        assert_eq!(s.iter().sum::<i32>(), 13);
    }
}
