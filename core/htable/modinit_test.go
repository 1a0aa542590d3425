package htable_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/kemisip/kemi/engine"
)

// TestModInitStopsTheStart checks that a drop or a Lua error in the
// htable:mod-init event aborts the start, as in Kamailio, and that a
// script without the callback starts.
func TestModInitStopsTheStart(t *testing.T) {
	const route = "function ksr_request_route() end\n"
	tests := []struct{ name, script, wantErr string }{
		{"drop", route + `function ev(n) if n == "htable:mod-init" then KSR.x.drop() end end`, `ev dropped htable:mod-init: start aborted`},
		{"error", route + `function ev(n) error("boom") end`, "boom"},
		{"no callback", route, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := engine.New(engine.Config{
				Script: []byte(tt.script), ScriptPath: "test.lua", Listen: []string{"udp:127.0.0.1:0"},
				Workers: 1, DBURL: "memory", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				ModParams: map[string]map[string]any{"htable": {"htable": "t=>", "event_callback": "ev"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			err = e.Start(context.Background())
			defer e.Stop(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("start: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("start: error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}
