# Sourced by the group installers (install_proxies.sh, install_brokers.sh): install Debian packages at exact pins.
# apt_pins GROUP PIN... (PIN = name=version). Uses the caller's step/skip, LOG, FAILED and WARNED. Pins already
# installed are skipped; the others go in one apt-get (services kept from starting: policy-rc.d answers 101
# during the install, so apache2 never listens on *:80); if that fails, one by one, and a pin gone from the archive
# gets the archive's version with a WARN line (re-check the fingerprints then).
deb_have() { dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null | sed -n 's/^ii *|//p'; }
apt_pins() {
  local group=$1; shift
  local t=$SECONDS p n need=() PRC=/usr/sbin/policy-rc.d made_prc=0
  local APT=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 install)
  for p in "$@"; do [ "$(deb_have "${p%%=*}")" = "${p#*=}" ] || need+=("$p"); done
  if [ $# -eq 0 ]; then skip apt $((SECONDS - t)) "(the selected rows have no Debian pins)"; return; fi
  if [ ${#need[@]} -eq 0 ]; then skip apt $((SECONDS - t)) "($# Debian pins installed: $*)"; return; fi
  echo "     apt: ${need[*]}"
  if [ ! -e "$PRC" ]; then printf '#!/bin/sh\nexit 101\n' > "$PRC"; chmod 755 "$PRC"; made_prc=1; fi
  step apt-update apt-get -q -o DPkg::Lock::Timeout=600 update || true
  if ! step apt "${APT[@]}" "${need[@]}"; then
    unset 'FAILED[${#FAILED[@]}-1]'
    for p in "${need[@]}"; do
      n=${p%%=*}; t=$SECONDS
      if "${APT[@]}" "$p" >> "$LOG/$group-apt.log" 2>&1; then echo "ok   apt $p ($((SECONDS - t)) s)"
      elif "${APT[@]}" "$n" >> "$LOG/$group-apt.log" 2>&1; then
        echo "WARN apt $n ($((SECONDS - t)) s): pinned ${p#*=} not installable, got $(deb_have "$n")"; WARNED+=("deb:$p")
      else echo "FAIL apt $n ($((SECONDS - t)) s) see $LOG/$group-apt.log"; FAILED+=("apt:$n"); fi
    done
  fi
  [ $made_prc = 1 ] && rm -f "$PRC"
  return 0
}
