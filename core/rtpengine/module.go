// Package rtpengine is Kamailio's rtpengine module: a client of the
// rtpengine media proxy's ng control protocol (bencoded dictionaries over
// UDP). The script hands the SDP of a call to rtpengine (rtpengine_offer,
// rtpengine_answer, or rtpengine_manage, which picks the command from the
// message) and the message leaves with the SDP rtpengine returns; other
// functions delete, query, record, block, silence or play media of a call.
// Nodes are grouped in sets with weights; a call sticks to the node its
// Call-ID hashes to, and a node that stops answering is left out for
// rtpengine_disable_tout seconds while the next node of its set is tried.
package rtpengine

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/kemisip/kemi/kemi"
)

func init() {
	kemi.Register(kemi.ModuleInfo{Name: "rtpengine", Order: 195, New: func() kemi.Module { return &Module{} }})
}

// Module is the rtpengine module of one engine.
type Module struct {
	log        *slog.Logger
	pvs        *kemi.PVTable
	client     *client
	defaultSet int

	// pseudo-variables named by the parameters; nil when not given
	readSDP  *kemi.PVName // read_sdp_pv: the SDP to send instead of the body
	writeSDP *kemi.PVName // write_sdp_pv: where rtpengine's SDP goes instead of the body
	instPV   *kemi.PVName // rtp_inst_pvar: gets the URL of the node that answered

	requests  map[string]*resultCounters // by ng command
	timeouts  *metrics.Counter
	disabled  *metrics.Counter
	nodeCount int
}

// resultCounters count the commands sent, by outcome.
type resultCounters struct{ ok, failed *metrics.Counter }

// ModInit reads the parameters (rtpengine_sock and the timing ones, with
// Kamailio's names and defaults) and creates the metrics and $rtpstat.
func (mod *Module) ModInit(env *kemi.Env) error {
	mod.log = env.Logger
	mod.pvs = env.PVs
	p := env.Params
	c := newClient(env.Logger)
	mod.defaultSet = p.Int("setid_default", 0)
	for _, v := range p.List("rtpengine_sock") {
		id, nodes, err := parseSock(v, mod.defaultSet)
		if err != nil {
			return fmt.Errorf("core/rtpengine: rtpengine_sock: %w", err)
		}
		c.addNodes(id, nodes)
		mod.nodeCount += len(nodes)
	}
	// An engine loads every standard module: without rtpengine_sock the
	// module is there (KSR.rtpengine exists) and its functions fail.
	if len(c.sets) > 0 && c.sets[mod.defaultSet] == nil {
		return fmt.Errorf("core/rtpengine: setid_default %d: no such set in rtpengine_sock", mod.defaultSet)
	}
	c.tout = time.Duration(p.Int("rtpengine_tout_ms", 1000)) * time.Millisecond
	c.retr = p.Int("rtpengine_retr", 5)
	c.disableTout = time.Duration(p.Int("rtpengine_disable_tout", 60)) * time.Second
	c.queriedLimit = p.Int("queried_nodes_limit", 30)
	c.hashTout = time.Duration(p.Int("hash_table_tout", 3600)) * time.Second
	switch {
	case c.tout <= 0:
		return fmt.Errorf("core/rtpengine: rtpengine_tout_ms %v: want more than 0", c.tout)
	case c.retr < 1:
		return fmt.Errorf("core/rtpengine: rtpengine_retr %d: want at least 1", c.retr)
	case c.disableTout < 0:
		return fmt.Errorf("core/rtpengine: rtpengine_disable_tout %v: want 0 or more", c.disableTout)
	case c.queriedLimit < 1:
		return fmt.Errorf("core/rtpengine: queried_nodes_limit %d: want at least 1", c.queriedLimit)
	case c.hashTout <= 0:
		return fmt.Errorf("core/rtpengine: hash_table_tout %v: want more than 0", c.hashTout)
	}
	mod.client = c
	// Go's map grows by itself: Kamailio's hash_table_size is read so
	// that a ported configuration loads, and sizes nothing
	_ = p.Int("hash_table_size", 256)
	for _, pv := range []struct {
		param string
		dst   **kemi.PVName
	}{{"read_sdp_pv", &mod.readSDP}, {"write_sdp_pv", &mod.writeSDP}, {"rtp_inst_pvar", &mod.instPV}} {
		name := p.Str(pv.param, "")
		if name == "" {
			continue
		}
		if env.PVs == nil {
			return fmt.Errorf("core/rtpengine: %s: no pseudo-variables in this engine", pv.param)
		}
		parsed, err := env.PVs.Parse(name)
		if err != nil {
			return fmt.Errorf("core/rtpengine: %s: %w", pv.param, err)
		}
		if pv.dst != &mod.readSDP && parsed.Class.Set == nil {
			return fmt.Errorf("core/rtpengine: %s: %s is read-only", pv.param, name)
		}
		*pv.dst = parsed
	}
	// a silent node holds the route this long before the next node is
	// tried; the engine's route time limit (1 s by default) stops a
	// route that ran longer once the call returns
	if wait := c.tout * time.Duration(c.retr); len(c.sets) > 0 && wait >= time.Second {
		mod.log.Warn("a silent rtpengine holds a route for rtpengine_tout_ms x rtpengine_retr per node: keep it below the route time limit (route_timeout, 1s by default)", "wait", wait)
	}

	mod.requests = map[string]*resultCounters{}
	const help = "ng commands sent to rtpengine, by command and result (ok, or failed: an error reply, a timeout of every node, a bad reply)."
	for _, cmd := range []string{cmdOffer, cmdAnswer, cmdDelete, cmdQuery, cmdStartRecording, cmdStopRecording,
		cmdBlockDTMF, cmdUnblockDTMF, cmdBlockMedia, cmdUnblockMedia, cmdSilenceMedia, cmdUnsilenceMedia,
		cmdStartForwarding, cmdStopForwarding, cmdPlayMedia, cmdStopMedia, cmdPlayDTMF,
		cmdSubscribeReq, cmdSubscribeAns, cmdUnsubscribe, cmdConnect} {
		label := metricLabel(cmd)
		mod.requests[cmd] = &resultCounters{
			ok:     env.Metrics.NewCounter(`kemi_rtpengine_requests_total{command="`+label+`",result="ok"}`, help),
			failed: env.Metrics.NewCounter(`kemi_rtpengine_requests_total{command="`+label+`",result="failed"}`, help),
		}
	}
	mod.timeouts = env.Metrics.NewCounter(`kemi_rtpengine_timeouts_total`, "ng commands a node did not answer in rtpengine_retr tries of rtpengine_tout_ms.")
	mod.disabled = env.Metrics.NewCounter(`kemi_rtpengine_nodes_disabled_total`, "Times an rtpengine node was disabled for rtpengine_disable_tout after a timeout.")
	env.Metrics.NewGauge(`kemi_rtpengine_nodes_enabled`, "rtpengine nodes that may be selected now (not disabled).", func() float64 {
		n := 0
		for _, s := range c.sets {
			for _, nd := range s.nodes {
				if c.enabled(nd) {
					n++
				}
			}
		}
		return float64(n)
	})
	mod.addRPCs(env)
	c.onTimeout = mod.timeouts.Inc
	c.onDisable = mod.disabled.Inc
	if env.PVs != nil {
		if err := env.PVs.Register(kemi.PVClass{Name: "rtpstat", Get: mod.rtpstat}); err != nil {
			return fmt.Errorf("core/rtpengine: %w", err)
		}
	}
	ids := make([]int, 0, len(c.sets))
	for id := range c.sets {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	mod.log.Debug("rtpengine sets", "sets", ids, "nodes", mod.nodeCount)
	return nil
}

// metricLabel writes a command as a label value: "start recording" is
// start_recording, "block DTMF" block_dtmf.
func metricLabel(cmd string) string {
	b := []byte(cmd)
	for i, c := range b {
		switch {
		case c == ' ':
			b[i] = '_'
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Destroy closes the sockets to the nodes.
func (mod *Module) Destroy() {
	if mod.client != nil {
		mod.client.close()
	}
}

var (
	_ kemi.ModIniter = (*Module)(nil)
	_ kemi.Destroyer = (*Module)(nil)
)
