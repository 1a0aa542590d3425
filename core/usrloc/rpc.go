package usrloc

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/kemi"
)

// rpcFault is a usrloc RPC error with Kamailio's code and text.
func rpcFault(code int, msg string) error { return &kemi.RPCError{Code: code, Message: msg} }

// notSet is what Kamailio's ul.dump shows for an empty field.
const notSet = "[not set]"

// initRPC offers Kamailio's usrloc RPC commands.
func (mod *Module) initRPC(env *kemi.Env) {
	env.AddRPC(kemi.RPCMethod{Name: "ul.dump", Doc: "Dump user location tables; with \"brief\" only the AORs.", Handler: mod.rpcDump})
	env.AddRPC(kemi.RPCMethod{Name: "ul.lookup", Doc: "Dump the contacts of an AOR: table and AOR.", Handler: mod.rpcLookup})
	env.AddRPC(kemi.RPCMethod{Name: "ul.rm", Doc: "Delete an AOR from a location table: table and AOR.", Handler: mod.rpcRm})
	env.AddRPC(kemi.RPCMethod{Name: "ul.rm_contact", Doc: "Delete a contact from an AOR: table, AOR and contact URI.", Handler: mod.rpcRmContact})
}

// The ul.dump and ul.lookup results, with Kamailio 5.6's field names and
// order. Kamailio's Size, HashID and Max-Slots describe its hash table,
// Last-Keepalive and KA-Roundtrip its keepalive pings: kemi keeps neither,
// so they are left out.
type (
	rpcDumpResult struct {
		Domains []rpcDomainRec `json:"Domains"`
	}
	rpcDomainRec struct {
		Domain rpcDomain `json:"Domain"`
	}
	rpcDomain struct {
		Domain string     `json:"Domain"`
		AoRs   []any      `json:"AoRs"` // rpcAoRRec, or rpcAoR in brief mode
		Stats  rpcDomStat `json:"Stats"`
	}
	rpcDomStat struct {
		Records int `json:"Records"`
	}
	rpcAoRRec struct {
		Info rpcAoR `json:"Info"`
	}
	rpcAoR struct {
		AoR      string          `json:"AoR"`
		Contacts []rpcContactRec `json:"Contacts,omitempty"`
	}
	rpcContactRec struct {
		Contact rpcContact `json:"Contact"`
	}
	rpcContact struct {
		Address      string  `json:"Address"`
		Expires      any     `json:"Expires"` // seconds left, or "permanent"
		Q            float64 `json:"Q"`
		CallID       string  `json:"Call-ID"`
		CSeq         int     `json:"CSeq"`
		UserAgent    string  `json:"User-Agent"`
		Received     string  `json:"Received"`
		Path         string  `json:"Path"`
		State        string  `json:"State"`
		Flags        uint32  `json:"Flags"`
		CFlags       uint32  `json:"CFlags"`
		Socket       string  `json:"Socket"`
		Methods      uint32  `json:"Methods"`
		Ruid         string  `json:"Ruid"`
		Instance     string  `json:"Instance"`
		RegID        int     `json:"Reg-Id"`
		ServerID     int     `json:"Server-Id"`
		TcpconnID    int64   `json:"Tcpconn-Id"`
		Keepalive    int     `json:"Keepalive"`
		LastModified int64   `json:"Last-Modified"`
	}
)

func orNotSet(s string) string {
	if s == "" {
		return notSet
	}
	return s
}

// rpcContactOf is a binding as Kamailio's ul.dump shows a contact.
func (mod *Module) rpcContactOf(b kemi.Binding, now time.Time) rpcContactRec {
	c := rpcContact{
		Address:      b.Contact,
		Expires:      "permanent",
		Q:            -1,
		CallID:       b.CallID,
		CSeq:         b.CSeq,
		UserAgent:    orNotSet(b.UserAgent),
		Received:     orNotSet(b.Received),
		Path:         orNotSet(b.Path),
		State:        mod.contactState(),
		Flags:        b.Flags,
		CFlags:       b.CFlags,
		Socket:       orNotSet(b.Socket),
		Methods:      uint32(b.Methods), // -1 (unknown) is all bits, as Kamailio shows it
		Ruid:         orNotSet(b.RUID),
		Instance:     orNotSet(b.Instance),
		RegID:        b.RegID,
		ServerID:     b.ServerID,
		TcpconnID:    -1,
		Keepalive:    b.KeepAlive,
		LastModified: b.LastModified.Unix(),
	}
	if !b.Expires.IsZero() {
		c.Expires = int64(b.Expires.Sub(now) / time.Second)
	}
	if b.Q >= 0 {
		c.Q = float64(b.Q) / 1000
	}
	if b.ConnID > 0 {
		c.TcpconnID = b.ConnID
	}
	if b.LastModified.IsZero() {
		c.LastModified = 0
	}
	return rpcContactRec{Contact: c}
}

// contactState is Kamailio's contact state: a binding of a table kept
// in memory only is new, one written through to a database is in sync.
func (mod *Module) contactState() string {
	if mod.url.Kind == db.KindMemory {
		return "CS_NEW"
	}
	return "CS_SYNC"
}

// tables returns the location tables: those holding bindings, and the
// one save("location") names even when it is empty.
func (mod *Module) tables(ctx context.Context) ([]string, error) {
	ts, err := mod.loc.Tables(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(ts, DefaultTable) {
		ts = append(ts, DefaultTable)
		slices.Sort(ts)
	}
	return ts, nil
}

// rpcDump is ul.dump [brief].
func (mod *Module) rpcDump(ctx context.Context, p kemi.RPCParams) (any, error) {
	brief := false
	if p.Len() > 0 {
		s, err := p.Str(0)
		if err != nil {
			return nil, err
		}
		brief = s == "brief"
	}
	ts, err := mod.tables(ctx)
	if err != nil {
		return nil, rpcFault(500, "Internal error: "+err.Error())
	}
	now := time.Now()
	out := rpcDumpResult{Domains: make([]rpcDomainRec, 0, len(ts))}
	for _, table := range ts {
		aors, err := mod.loc.AORs(ctx, table)
		if err != nil {
			return nil, rpcFault(500, "Internal error: "+err.Error())
		}
		d := rpcDomain{Domain: table, AoRs: make([]any, 0, len(aors))}
		for _, aor := range aors {
			if brief {
				d.AoRs = append(d.AoRs, rpcAoR{AoR: aor})
				continue
			}
			bs, err := mod.loc.Lookup(ctx, table, aor)
			if err != nil {
				return nil, rpcFault(500, "Internal error: "+err.Error())
			}
			if len(bs) == 0 {
				continue // expired since AORs listed it
			}
			d.AoRs = append(d.AoRs, rpcAoRRec{Info: mod.rpcAoROf(aor, bs, now)})
		}
		d.Stats.Records = len(d.AoRs)
		out.Domains = append(out.Domains, rpcDomainRec{Domain: d})
	}
	return out, nil
}

func (mod *Module) rpcAoROf(aor string, bs []kemi.Binding, now time.Time) rpcAoR {
	// the newest first, as Kamailio's list of an AOR's contacts
	slices.SortStableFunc(bs, func(a, b kemi.Binding) int { return b.LastModified.Compare(a.LastModified) })
	out := rpcAoR{AoR: aor, Contacts: make([]rpcContactRec, 0, len(bs))}
	for _, b := range bs {
		out.Contacts = append(out.Contacts, mod.rpcContactOf(b, now))
	}
	return out
}

// rpcTarget reads the table and AOR parameters as Kamailio does: the
// table must exist; without use_domain the AOR loses its domain part,
// with it the AOR must have one. It returns the AOR as the registrar
// stored it: as given if it has bindings, else in lower case (the
// registrar's default).
func (mod *Module) rpcTarget(ctx context.Context, p kemi.RPCParams, usage string) (table, aor string, err error) {
	if p.Len() < 2 {
		return "", "", rpcFault(500, "Not enough parameters ("+usage+")")
	}
	if table, err = p.Str(0); err != nil {
		return "", "", err
	}
	if aor, err = p.Str(1); err != nil {
		return "", "", err
	}
	ts, err := mod.tables(ctx)
	if err != nil {
		return "", "", rpcFault(500, "Internal error: "+err.Error())
	}
	if !slices.Contains(ts, table) {
		return "", "", rpcFault(500, "Domain table not found")
	}
	// a SIP URI is accepted for the AOR, as kamctl users type it
	aor = strings.TrimPrefix(strings.TrimPrefix(aor, "sip:"), "sips:")
	user, _, hasDomain := strings.Cut(aor, "@")
	switch {
	case mod.useDomain && !hasDomain:
		return "", "", rpcFault(500, "Domain missing in AOR")
	case !mod.useDomain:
		aor = user
	}
	if lower := strings.ToLower(aor); lower != aor {
		bs, err := mod.loc.Lookup(ctx, table, aor)
		if err == nil && len(bs) == 0 {
			aor = lower
		}
	}
	return table, aor, nil
}

// rpcLookup is ul.lookup TABLE AOR.
func (mod *Module) rpcLookup(ctx context.Context, p kemi.RPCParams) (any, error) {
	table, aor, err := mod.rpcTarget(ctx, p, "table and AOR to lookup")
	if err != nil {
		return nil, err
	}
	bs, err := mod.loc.Lookup(ctx, table, aor)
	if err != nil {
		return nil, rpcFault(500, "Internal error: "+err.Error())
	}
	if len(bs) == 0 {
		return nil, rpcFault(500, "AOR not found in location table")
	}
	return mod.rpcAoROf(aor, bs, time.Now()), nil
}

// rpcRm is ul.rm TABLE AOR. An AOR without bindings is no error, as in
// Kamailio.
func (mod *Module) rpcRm(ctx context.Context, p kemi.RPCParams) (any, error) {
	table, aor, err := mod.rpcTarget(ctx, p, "table and AOR to lookup")
	if err != nil {
		return nil, err
	}
	n, err := mod.loc.DeleteAOR(ctx, table, aor)
	if err != nil {
		return nil, rpcFault(500, "Failed to delete AOR")
	}
	mod.log.Info("usrloc: AOR removed by RPC", "table", table, "aor", aor, "bindings", n)
	return struct{}{}, nil
}

// rpcRmContact is ul.rm_contact TABLE AOR CONTACT.
func (mod *Module) rpcRmContact(ctx context.Context, p kemi.RPCParams) (any, error) {
	if p.Len() < 3 {
		return nil, rpcFault(500, "Not enough parameters (table, AOR and contact)")
	}
	contact, err := p.Str(2)
	if err != nil {
		return nil, err
	}
	table, aor, err := mod.rpcTarget(ctx, p, "table, AOR and contact")
	if err != nil {
		return nil, err
	}
	bs, err := mod.loc.Lookup(ctx, table, aor)
	if err != nil {
		return nil, rpcFault(500, "Internal error (can't get contact)")
	}
	if len(bs) == 0 {
		return nil, rpcFault(404, "AOR not found")
	}
	i := slices.IndexFunc(bs, func(b kemi.Binding) bool { return b.Contact == contact })
	if i < 0 {
		return nil, rpcFault(404, "Contact not found")
	}
	if _, err := mod.loc.DeleteRUID(ctx, table, aor, bs[i].RUID); err != nil {
		return nil, rpcFault(500, "Internal error (can't delete contact)")
	}
	mod.log.Info("usrloc: contact removed by RPC", "table", table, "aor", aor, "contact", contact)
	return struct{}{}, nil
}
