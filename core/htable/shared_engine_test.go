package htable_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kemisip/kemi/engine/enginetest"
	"github.com/kemisip/kemi/internal/redistest"
)

// startShared runs testdata/shared.lua on an engine with four workers
// whose table s (and the dbtable of d) is kept in the Redis server url.
func startShared(t *testing.T, url string) *enginetest.Server {
	t.Helper()
	script, err := os.ReadFile("testdata/shared.lua")
	if err != nil {
		t.Fatal(err)
	}
	return enginetest.Start(t, string(script), enginetest.WithWorkers(4), enginetest.WithParams("htable", map[string]any{
		"db_url":         url,
		"event_callback": "ksr_htable_event",
		"htable": []any{
			"s=>size=4;initval=0;autoexpire=300;redis=1",
			"d=>initval=0;dbtable=htable;dbmode=1",
			"m=>initval=0",
		},
	}))
}

func ask(t *testing.T, s *enginetest.Server, op string) string {
	t.Helper()
	v, err := valsOf(s.UDP(), op, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return v
}

// TestSharedTableTwoEngines runs two engines on one Redis: what one sets
// in a redis=1 table the other reads, and increments sent to both at
// once, served by all their workers, add up exactly. htable:mod-init has
// preset the memory table of each, once, before the first request.
func TestSharedTableTwoEngines(t *testing.T) {
	url, _ := redistest.Start(t)
	a, b := startShared(t, url), startShared(t, url)
	if got, want := ask(t, a, "get"), "0|0|0|7|1"; got != want {
		t.Errorf("first request: X-Vals %q, want %q (mod-init ran once before it)", got, want)
	}
	ask(t, a, "set")
	if got := ask(t, b, "get"); !strings.HasPrefix(got, "0|a|") {
		t.Errorf("engine b reads %q, want what engine a set (0|a|...)", got)
	}
	const perEngine, senders = 40, 4 // 50 increments each
	var wg sync.WaitGroup
	errs := make(chan error, 2*perEngine)
	for _, s := range []*enginetest.Server{a, b} {
		for g := 0; g < senders; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perEngine/senders; i++ {
					if _, err := valsOf(s.UDP(), "inc", 10*time.Second); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("inc: %v", err)
	}
	want := "4000|a|0|7|1"
	for i, s := range []*enginetest.Server{a, b} {
		if got := ask(t, s, "get"); got != want {
			t.Errorf("engine %d after %d increments: X-Vals %q, want %q", i, 2*perEngine*50, got, want)
		}
	}
}

// TestDBTableOnRedisSurvivesEngineRestart stops an engine whose table d
// has its dbtable in Redis (dbmode=1) and starts another: the item the
// first changed is there.
func TestDBTableOnRedisSurvivesEngineRestart(t *testing.T) {
	url, _ := redistest.Start(t)
	s := startShared(t, url)
	ask(t, s, "dinc")
	ask(t, s, "dinc")
	stop(t, s)
	s2 := startShared(t, url)
	if got, want := ask(t, s2, "get"), "0|0|2|7|1"; got != want {
		t.Errorf("after the restart: X-Vals %q, want %q", got, want)
	}
}
