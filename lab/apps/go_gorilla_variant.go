// Variant app for gorilla/websocket (same library as go_gorilla.go, different app behaviour).
// usage: go_gorilla_variant PORT silent|push
//   silent: accept, read and discard every message, never send a data message
//   push:   accept, never echo (reads and discards), send a text message every 100 ms (like STEWS's ws server-stats app)
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(r *http.Request) bool { return true }}

func main() {
	port, mode := "9001", "silent"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	if mode != "silent" && mode != "push" {
		fmt.Fprintf(os.Stderr, "unknown mode %q (silent|push)\n", mode)
		os.Exit(2)
	}
	start := time.Now()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		done := make(chan struct{})
		if mode == "push" {
			go func() { // the only writer of data messages (gorilla allows one concurrent writer)
				t := time.NewTicker(100 * time.Millisecond)
				defer t.Stop()
				for seq := 1; ; seq++ {
					select {
					case <-done:
						return
					case <-t.C:
						msg := fmt.Sprintf(`{"seq":%d,"uptime":%.3f}`, seq, time.Since(start).Seconds())
						if c.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
							return
						}
					}
				}
			}()
		}
		defer close(done)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	http.ListenAndServe("127.0.0.1:"+port, nil)
}
