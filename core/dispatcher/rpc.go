package dispatcher

import (
	"context"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// rpcFault is Kamailio's dispatcher RPC error: code 500 and its text.
func rpcFault(msg string) error { return &kemi.RPCError{Code: 500, Message: msg} }

// initRPC offers Kamailio's dispatcher RPC commands.
func (mod *Module) initRPC(env *kemi.Env) {
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.list", Doc: "Return the content of dispatcher sets; optional mode \"short\" or \"full\".", Handler: mod.rpcList})
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.set_state", Doc: "Set the state of a destination by address: state (a, i, d, t, with p for probing), set id, URI or \"all\".", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
		return mod.rpcSetState(p, false)
	}})
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.set_duid_state", Doc: "Set the state of a destination by duid: state, set id, duid or \"all\".", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
		return mod.rpcSetState(p, true)
	}})
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.reload", Doc: "Reload dispatcher destination sets.", Handler: func(context.Context, kemi.RPCParams) (any, error) {
		switch err := mod.reload(); {
		case err == errReloadTooSoon:
			return nil, rpcFault("Ongoing reload")
		case err != nil:
			return nil, rpcFault("Reload Failed")
		}
		return "Ok. Dispatcher successfully reloaded.", nil
	}})
	env.AddRPC(kemi.RPCMethod{Name: "dispatcher.ping_active", Doc: "Manage setting on/off the pinging (keepalive) of destinations: no parameter reads it, 0 or 1 sets it.", Handler: mod.rpcPingActive})
}

// The dispatcher.list result, with Kamailio 5.6's field names and order.
type (
	rpcList struct {
		NRSETS  int         `json:"NRSETS"`
		RECORDS []rpcSetRec `json:"RECORDS"`
	}
	rpcSetRec struct {
		SET rpcSet `json:"SET"`
	}
	rpcSet struct {
		ID      int          `json:"ID"`
		TARGETS []rpcDestRec `json:"TARGETS"`
	}
	rpcDestRec struct {
		DEST rpcDest `json:"DEST"`
	}
	rpcDest struct {
		URI      string `json:"URI"`
		FLAGS    string `json:"FLAGS"`
		PRIORITY int    `json:"PRIORITY"`
		*rpcFull
		ATTRS   *rpcAttrs   `json:"ATTRS,omitempty"`
		LATENCY *rpcLatency `json:"LATENCY,omitempty"`
		RUNTIME *rpcRuntime `json:"RUNTIME,omitempty"`
	}
	// rpcRuntime is the call load, with ds_hash_size set.
	rpcRuntime struct {
		DLGLOAD int `json:"DLGLOAD"`
	}
	// rpcFull is added by the "full" mode.
	rpcFull struct {
		HOST         string `json:"HOST"`
		IPADDR       string `json:"IPADDR"`
		PORT         int    `json:"PORT"`
		PROTOID      int    `json:"PROTOID"`
		DNSTIME_SEC  int    `json:"DNSTIME_SEC"`
		DNSTIME_USEC int    `json:"DNSTIME_USEC"`
	}
	// rpcAttrs: Kamailio gives null for an attribute that is not set.
	rpcAttrs struct {
		BODY     string  `json:"BODY"`
		DUID     *string `json:"DUID"`
		MAXLOAD  int     `json:"MAXLOAD"`
		WEIGHT   int     `json:"WEIGHT"`
		RWEIGHT  int     `json:"RWEIGHT"`
		SOCKET   *string `json:"SOCKET"`
		SOCKNAME *string `json:"SOCKNAME"`
		OBPROXY  *string `json:"OBPROXY"`
	}
	rpcLatency struct {
		AVG     float64 `json:"AVG"`
		STD     float64 `json:"STD"`
		EST     float64 `json:"EST"`
		MAX     int     `json:"MAX"`
		TIMEOUT uint32  `json:"TIMEOUT"`
	}
)

// rpcList is dispatcher.list [short|full].
func (mod *Module) rpcList(_ context.Context, p kemi.RPCParams) (any, error) {
	mode := ""
	if p.Len() > 0 {
		mode, _ = p.Str(0)
		mode = strings.ToLower(mode)
	}
	l := mod.sets.Load()
	if len(l.tree) == 0 {
		return nil, rpcFault("No Destination Sets")
	}
	out := rpcList{NRSETS: len(l.tree), RECORDS: make([]rpcSetRec, 0, len(l.tree))}
	for _, id := range l.tree {
		s := rpcSet{ID: id, TARGETS: []rpcDestRec{}}
		for _, d := range l.sets[id].dests {
			s.TARGETS = append(s.TARGETS, rpcDestRec{DEST: mod.rpcDest(d, mode)})
		}
		out.RECORDS = append(out.RECORDS, rpcSetRec{SET: s})
	}
	return out, nil
}

func (mod *Module) rpcDest(d *dest, mode string) rpcDest {
	out := rpcDest{URI: d.uri, FLAGS: stateString(d.rt.st.Load()), PRIORITY: d.priority}
	if mode == "full" {
		f := &rpcFull{HOST: d.host, PORT: d.port, PROTOID: protoID(d.proto)}
		if d.addr.IsValid() {
			f.IPADDR = d.addr.String()
		}
		out.rpcFull = f
	}
	if mode != "short" && d.attrs != "" {
		out.ATTRS = &rpcAttrs{
			BODY:     d.attrs,
			DUID:     attrPtr(d.attrs, "duid"),
			MAXLOAD:  d.maxload,
			WEIGHT:   d.weight,
			RWEIGHT:  d.rweight,
			SOCKET:   attrPtr(d.attrs, "socket"),
			SOCKNAME: attrPtr(d.attrs, "sockname"),
			OBPROXY:  attrPtr(d.attrs, "obproxy"),
		}
	}
	if mod.prober != nil && mod.prober.latency {
		d.rt.mu.Lock()
		lat := d.rt.lat
		d.rt.mu.Unlock()
		out.LATENCY = &rpcLatency{AVG: lat.avg, STD: lat.std, EST: lat.est, MAX: lat.max, TIMEOUT: lat.timeouts}
	}
	if mod.load != nil {
		out.RUNTIME = &rpcRuntime{DLGLOAD: mod.load.get(d.setID, d.duid)}
	}
	return out
}

// protoID is Kamailio's number of a transport (PROTO_*).
func protoID(proto string) int {
	switch proto {
	case "udp":
		return 1
	case "tcp":
		return 2
	case "tls":
		return 3
	case "sctp":
		return 4
	case "ws":
		return 5
	case "wss":
		return 6
	}
	return 0
}

// attrPtr returns the value of attribute key in attrs, nil when absent.
func attrPtr(attrs, key string) *string {
	for _, kv := range strings.Split(attrs, ";") {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(strings.TrimSpace(k), key) {
			return &v
		}
	}
	return nil
}

// rpcState reads the state of dispatcher.set_state as Kamailio does:
// its first character 0/i inactive, 1/a active, 2/d disabled, 3/t
// trying; a second p adds probing (not to disabled).
func rpcState(s string) (int32, bool) {
	if s == "" {
		return 0, false
	}
	probing := len(s) > 1 && (s[1] == 'p' || s[1] == 'P')
	var st int32
	switch s[0] {
	case '0', 'i', 'I':
		st = stInactive
	case '1', 'a', 'A':
	case '2', 'd', 'D':
		return stDisabled, true
	case '3', 't', 'T':
		st = stTrying
	default:
		return 0, false
	}
	if probing {
		st |= stProbing
	}
	return st, true
}

// rpcSetState is dispatcher.set_state and set_duid_state (byDUID):
// state, set id, and the URI (or duid) of the destination, or "all".
func (mod *Module) rpcSetState(p kemi.RPCParams, byDUID bool) (any, error) {
	stText, err1 := p.Str(0)
	id, err2 := p.Int(1)
	which, err3 := p.Str(2)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, rpcFault("Invalid Parameters")
	}
	if stText == "" {
		return nil, rpcFault("Invalid State Parameter")
	}
	st, ok := rpcState(stText)
	if !ok {
		return nil, rpcFault("Unknown State Value")
	}
	s := mod.sets.Load().sets[id]
	found := false
	if s != nil {
		for _, d := range s.dests {
			if which == "all" || (!byDUID && strings.EqualFold(d.uri, which)) || (byDUID && d.duid != "" && strings.EqualFold(d.duid, which)) {
				mod.state.reinit(d, st)
				mod.log.Info("dispatcher: destination state set by RPC", "set", id, "uri", d.uri, "state", stateString(st))
				found = true
				if which != "all" {
					break
				}
			}
		}
	}
	// "all" of a set that does not exist is not an error in Kamailio
	if !found && which != "all" {
		return nil, rpcFault("State Update Failed")
	}
	return "Ok. Dispatcher state updated.", nil
}

// rpcPingActive is dispatcher.ping_active [state]: it reads, or sets,
// whether the health checks run.
func (mod *Module) rpcPingActive(_ context.Context, p kemi.RPCParams) (any, error) {
	var out struct {
		New *int `json:"NewPingState,omitempty"`
		Old int  `json:"OldPingState"`
	}
	out.Old = int(mod.prober.active.Load())
	// no state, or one that is not a number, only reads it, as Kamailio
	if n, err := p.Int(0); err == nil {
		mod.prober.active.Store(int32(n))
		out.New = &n
	}
	return out, nil
}
