package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kemisip/kemi/kemi"
)

// A kstat is one of Kamailio's statistics ("sl:1xx_replies"), fed from
// series kemi keeps for /metrics. A statistic exists only while its
// series do (a module that is not loaded has none), so a name kemi cannot
// count is absent rather than 0.
type kstat struct {
	group, name string
	// sources are the series summed: a full series name, or a family
	// name ending in "{" for every series of that family; one written
	// with a leading "-" is subtracted.
	sources []string
	// gauge marks a statistic that is a level, not a count: like
	// Kamailio's no-reset statistics, a reset leaves it alone.
	gauge bool
}

func (s *kstat) fullName() string { return s.group + ":" + s.name }

// kstatsTable lists the statistics kemi keeps, under Kamailio 5.6's
// groups and names. Kamailio names missing from it (core:fwd_requests,
// sl:received_ACKs, tmx:rpl_received, ...) are those kemi counts in another
// way or not at all.
func kstatsTable() []*kstat {
	var ks []*kstat
	add := func(group, name string, gauge bool, sources ...string) {
		ks = append(ks, &kstat{group: group, name: name, gauge: gauge, sources: sources})
	}
	add("core", "rcv_requests", false, "kemi_core_requests_received_total{")
	for _, m := range []string{"ACK", "BYE", "CANCEL", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS", "PRACK", "PUBLISH", "REFER", "REGISTER", "SUBSCRIBE", "UPDATE"} {
		add("core", "rcv_requests_"+strings.ToLower(m), false, `kemi_core_requests_received_total{method="`+m+`"}`)
	}
	add("core", "rcv_replies", false, "kemi_core_replies_received_total{")
	for c := 1; c <= 6; c++ {
		add("core", fmt.Sprintf("rcv_replies_%dxx", c), false, fmt.Sprintf(`kemi_core_replies_received_total{class="%dxx"}`, c))
	}
	add("tcp", "current_opened_connections", true, "kemi_core_tcp_connections")

	add("sl", "1xx_replies", false, `kemi_sl_replies_sent_total{class="1xx"}`)
	// as Kamailio's sl: a reply counts under its own code when sl counts
	// that code, else under its class ("2xx_replies": the 2xx but 200, 202)
	byCode := map[int][]int{}
	for _, code := range kemi.SLCountedCodes() {
		add("sl", fmt.Sprintf("%d_replies", code), false, fmt.Sprintf(`kemi_sl_replies_sent_by_code_total{code="%d"}`, code))
		byCode[code/100] = append(byCode[code/100], code)
	}
	for c := 2; c <= 5; c++ {
		src := []string{fmt.Sprintf(`kemi_sl_replies_sent_total{class="%dxx"}`, c)}
		for _, code := range byCode[c] {
			src = append(src, fmt.Sprintf(`-kemi_sl_replies_sent_by_code_total{code="%d"}`, code))
		}
		add("sl", fmt.Sprintf("%dxx_replies", c), false, src...)
	}
	add("sl", "6xx_replies", false, `kemi_sl_replies_sent_total{class="6xx"}`)
	add("sl", "sent_replies", false, "kemi_sl_replies_sent_total{")
	add("sl", "failures", false, "kemi_sl_send_errors_total")

	add("tmx", "UAS_transactions", false, "kemi_tm_transactions_total")
	add("tmx", "UAC_transactions", false, "kemi_tm_uac_requests_total")
	add("tmx", "inuse_transactions", true, "kemi_tm_transactions_alive")
	add("tmx", "active_transactions", true, "kemi_tm_transactions_pending")
	add("tmx", "rpl_generated", false, "kemi_tm_local_replies_total{")
	add("tmx", "rpl_relayed", false, "kemi_tm_replies_relayed_total{")
	add("tmx", "rpl_sent", false, "kemi_tm_local_replies_total{", "kemi_tm_replies_relayed_total{")
	for c := 2; c <= 6; c++ {
		add("tmx", fmt.Sprintf("%dxx_transactions", c), false,
			fmt.Sprintf(`kemi_tm_local_replies_total{class="%dxx"}`, c), fmt.Sprintf(`kemi_tm_replies_relayed_total{class="%dxx"}`, c))
	}

	add("usrloc", "registered_users", true, "kemi_usrloc_users")
	add("registrar", "accepted_regs", false, "kemi_registrar_accepted_total")
	add("registrar", "rejected_regs", false, "kemi_registrar_rejected_total")

	// shmem: Go's memory, as core.shmmem maps it, read once per call
	// into the page by scrape
	for _, name := range []string{"total_size", "used_size", "real_used_size", "free_size"} {
		add("shmem", name, true, shmemKey+name)
	}
	// Kamailio lists groups, and names in a group, in byte order
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].group != ks[j].group {
			return ks[i].group < ks[j].group
		}
		return ks[i].name < ks[j].name
	})
	return ks
}

// kstats serves the stats.* methods of one engine. A reset does not
// touch the counters behind /metrics (Prometheus counters only grow): it
// records their values, and the statistics count from there.
type kstats struct {
	e     *Engine
	table []*kstat

	mu   sync.Mutex
	base map[string]float64 // by full name: the value at the last reset
}

// statsRPCs returns the stats.* methods.
func (e *Engine) statsRPCs() []kemi.RPCMethod {
	k := &kstats{e: e, table: kstatsTable(), base: map[string]float64{}}
	return []kemi.RPCMethod{
		{Name: "stats.get_statistics", Doc: "Print statistics: \"all\", a group (\"sl:\") or a name, several allowed; \"group = value\" lines.", Handler: k.rpcGet},
		{Name: "stats.reset_statistics", Doc: "Reset statistics to 0: \"all\", a group (\"sl:\") or a name, several allowed; levels (tmx:active_transactions, ...) stay.", Handler: k.rpcReset},
		{Name: "stats.clear_statistics", Doc: "Return statistics and reset them: \"group:name = new (old)\" lines.", Handler: k.rpcClear},
	}
}

// scrape reads every series of the engine's metrics, by name.
func (k *kstats) scrape() map[string]float64 {
	var page bytes.Buffer
	k.e.metrics.Set().WritePrometheus(&page)
	out := map[string]float64{}
	sc := bufio.NewScanner(&page)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	// one ReadMemStats (it stops the world) for every shmem statistic
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out[shmemKey+"total_size"] = float64(ms.Sys)
	out[shmemKey+"used_size"] = float64(ms.HeapAlloc)
	out[shmemKey+"real_used_size"] = float64(ms.HeapInuse + ms.StackInuse)
	out[shmemKey+"free_size"] = float64(ms.Sys - ms.HeapInuse - ms.StackInuse)
	return out
}

// shmemKey prefixes the page entries scrape adds for the shmem
// statistics: no Prometheus series is named so.
const shmemKey = "shmem:"

// read returns the raw value of s in page, false when its series are
// not there.
func (s *kstat) read(page map[string]float64) (float64, bool) {
	sum := 0.0
	for _, src := range s.sources {
		sign := 1.0
		if rest, ok := strings.CutPrefix(src, "-"); ok {
			sign, src = -1, rest
		}
		if strings.HasSuffix(src, "{") {
			found := false
			for name, v := range page {
				if strings.HasPrefix(name, src) {
					sum += sign * v
					found = true
				}
			}
			if !found {
				return 0, false
			}
			continue
		}
		v, ok := page[src]
		if !ok {
			return 0, false
		}
		sum += sign * v
	}
	return sum, true
}

// current returns the value of s as the stats methods show it: since
// the last reset, for a count.
func (k *kstats) current(s *kstat, page map[string]float64) (uint64, bool) {
	v, ok := s.read(page)
	if !ok {
		return 0, false
	}
	if !s.gauge {
		k.mu.Lock()
		v -= k.base[s.fullName()]
		k.mu.Unlock()
	}
	return uint64(math.Max(v, 0)), true
}

// match returns the statistics a parameter names, in order: "all", a
// group ("sl:"), a name as Kamailio takes it ("1xx_replies"), or, as
// kemi also takes it, "group:name". Only statistics kemi has now are
// returned.
func (k *kstats) match(sel string, page map[string]float64) []*kstat {
	group, name, qualified := strings.Cut(sel, ":")
	var out []*kstat
	for _, s := range k.table {
		var want bool
		switch {
		case sel == "all":
			want = true
		case qualified && name == "":
			want = s.group == group
		case qualified:
			want = s.group == group && s.name == name
		default:
			want = s.name == sel
		}
		if !want {
			continue
		}
		if _, ok := s.read(page); ok {
			out = append(out, s)
		}
		if !qualified && sel != "all" && len(out) > 0 {
			break // Kamailio's lookup by name finds one
		}
	}
	return out
}

// selectors reads the parameters: at least one string.
func selectors(p kemi.RPCParams, missing string) ([]string, error) {
	if p.Len() == 0 {
		return nil, &kemi.RPCError{Code: 400, Message: missing}
	}
	out := make([]string, 0, p.Len())
	for i := range p.Len() {
		s, err := p.Str(i)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, &kemi.RPCError{Code: kemi.RPCInvalidParams, Message: fmt.Sprintf("parameter %d is empty", i+1)}
		}
		out = append(out, s)
	}
	return out, nil
}

// rpcGet is stats.get_statistics: a list of "group:name = value".
func (k *kstats) rpcGet(_ context.Context, p kemi.RPCParams) (any, error) {
	sels, err := selectors(p, "Please provide which stats to retrieve")
	if err != nil {
		return nil, err
	}
	page := k.scrape()
	out := []string{}
	for _, sel := range sels {
		for _, s := range k.match(sel, page) {
			if v, ok := k.current(s, page); ok {
				out = append(out, fmt.Sprintf("%s = %d", s.fullName(), v))
			}
		}
	}
	return out, nil
}

// reset resets the statistics sels name and returns, for clear, the
// "group:name = new (old)" lines.
func (k *kstats) reset(sels []string) []string {
	page := k.scrape()
	var lines []string
	for _, sel := range sels {
		for _, s := range k.match(sel, page) {
			old, ok := k.current(s, page)
			if !ok {
				continue
			}
			if !s.gauge {
				raw, _ := s.read(page)
				k.mu.Lock()
				k.base[s.fullName()] = raw
				k.mu.Unlock()
			}
			nv, _ := k.current(s, page)
			if nv == old {
				lines = append(lines, fmt.Sprintf("%s = %d", s.fullName(), nv))
			} else {
				lines = append(lines, fmt.Sprintf("%s = %d (%d)", s.fullName(), nv, old))
			}
		}
	}
	return lines
}

// rpcReset is stats.reset_statistics; it answers an empty object, as
// Kamailio.
func (k *kstats) rpcReset(_ context.Context, p kemi.RPCParams) (any, error) {
	sels, err := selectors(p, "Please provide stats name")
	if err != nil {
		return nil, err
	}
	k.reset(sels)
	return struct{}{}, nil
}

// rpcClear is stats.clear_statistics: one line is answered as a string,
// as Kamailio does; several as a list (Kamailio keeps only the last);
// none as an empty object.
func (k *kstats) rpcClear(_ context.Context, p kemi.RPCParams) (any, error) {
	sels, err := selectors(p, "Please provide stats name")
	if err != nil {
		return nil, err
	}
	switch lines := k.reset(sels); len(lines) {
	case 0:
		return struct{}{}, nil
	case 1:
		return lines[0], nil
	default:
		return lines, nil
	}
}
