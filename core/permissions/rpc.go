package permissions

import (
	"context"
	"net/netip"
	"sort"

	"github.com/kemisip/kemi/kemi"
)

// rpcFault is a permissions RPC error with Kamailio's code and text.
func rpcFault(msg string) error { return &kemi.RPCError{Code: 500, Message: msg} }

// initRPC offers Kamailio's permissions RPC commands for the address
// table.
func (mod *Module) initRPC(env *kemi.Env) {
	env.AddRPC(kemi.RPCMethod{Name: "permissions.addressReload", Doc: "Reload the address table from the database (all or nothing).", Handler: mod.rpcAddressReload})
	env.AddRPC(kemi.RPCMethod{Name: "permissions.addressDump", Doc: "Dump the host entries (full masks) of the address table.", Handler: mod.rpcAddressDump})
	env.AddRPC(kemi.RPCMethod{Name: "permissions.subnetDump", Doc: "Dump the subnet entries of the address table.", Handler: mod.rpcSubnetDump})
	env.AddRPC(kemi.RPCMethod{Name: "permissions.domainDump", Doc: "Dump the domain name entries of the address table.", Handler: mod.rpcDomainDump})
}

// rpcAddressReload is permissions.addressReload: the address table is
// read and parsed again and replaces the one in use only if every row
// parses; the trusted table stays as it is, as in Kamailio.
func (mod *Module) rpcAddressReload(ctx context.Context, _ kemi.RPCParams) (any, error) {
	if mod.src == nil {
		return nil, rpcFault("Reload failed. No database to read the address table from")
	}
	// one RPC reload at a time: two would race to store their table
	mod.rpcReloadMu.Lock()
	defer mod.rpcReloadMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	arows, _, err := mod.src.rows(ctx)
	var at *addrTable
	if err == nil {
		at, err = newAddrTable(arows)
	}
	if err != nil {
		mod.log.Error("permissions: address table reload failed, the old one stays", "err", err)
		return nil, rpcFault("Reload failed. " + err.Error())
	}
	// a SIGHUP reload may store both tables meanwhile: keep its trusted
	// table, never the one read before
	for {
		cur := mod.cur.Load()
		if mod.cur.CompareAndSwap(cur, &tables{addr: at, trusted: cur.trusted}) {
			break
		}
	}
	mod.log.Info("permissions: address table reloaded by RPC", "db", mod.url.String(), "address_rows", at.rows)
	return "Reload OK", nil
}

// The dumps' entries, as Kamailio's; a NULL tag shows as "NULL" for a
// host or a domain name and as "" for a subnet, as Kamailio. Kamailio's
// "table" and "id" members are the positions in its own hash table and
// subnet array, which kemi does not have: they are left out.
type (
	rpcAddrEntry struct {
		Group int         `json:"group"`
		Item  rpcAddrItem `json:"item"`
	}
	rpcAddrItem struct {
		IP   string `json:"ip"`
		Mask *int   `json:"mask,omitempty"`
		Port int    `json:"port"`
		Tag  string `json:"tag"`
	}
	rpcDomainEntry struct {
		Group int           `json:"group"`
		Item  rpcDomainItem `json:"item"`
	}
	rpcDomainItem struct {
		Domain string `json:"domain_name"`
		Port   int    `json:"port"`
		Tag    string `json:"tag"`
	}
)

// tagText is a tag as the dumps show it: null (a NULL or empty tag)
// for none.
func tagText(t *string, null string) string {
	if t == nil || *t == "" {
		return null
	}
	return *t
}

// rpcAddressDump is permissions.addressDump: the host entries, by
// address then newest row first.
func (mod *Module) rpcAddressDump(context.Context, kemi.RPCParams) (any, error) {
	t := mod.cur.Load().addr
	addrs := make([]netip.Addr, 0, len(t.hosts))
	for a := range t.hosts {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	out := []rpcAddrEntry{}
	for _, a := range addrs {
		for _, e := range t.hosts[a] {
			out = append(out, rpcAddrEntry{Group: e.grp, Item: rpcAddrItem{IP: a.String(), Port: e.port, Tag: tagText(e.tag, "NULL")}})
		}
	}
	return out, nil
}

// rpcSubnetDump is permissions.subnetDump: the subnets in the order they
// are matched.
func (mod *Module) rpcSubnetDump(context.Context, kemi.RPCParams) (any, error) {
	out := []rpcAddrEntry{}
	for _, e := range mod.cur.Load().addr.subnets {
		bits := e.prefix.Bits()
		out = append(out, rpcAddrEntry{Group: e.grp, Item: rpcAddrItem{IP: e.prefix.Addr().String(), Mask: &bits, Port: e.port, Tag: tagText(e.tag, "")}})
	}
	return out, nil
}

// rpcDomainDump is permissions.domainDump: the domain name entries. Kamailio
// answers one object whose members repeat for each entry, which JSON
// readers keep only the last of; kemi answers a list, as addressDump.
func (mod *Module) rpcDomainDump(context.Context, kemi.RPCParams) (any, error) {
	t := mod.cur.Load().addr
	names := make([]string, 0, len(t.domains))
	for n := range t.domains {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []rpcDomainEntry{}
	for _, n := range names {
		for _, e := range t.domains[n] {
			out = append(out, rpcDomainEntry{Group: e.grp, Item: rpcDomainItem{Domain: n, Port: e.port, Tag: tagText(e.tag, "NULL")}})
		}
	}
	return out, nil
}
