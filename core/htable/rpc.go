package htable

import (
	"context"
	"errors"
	"hash/maphash"
	"sort"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// rpcFault is an htable RPC error with Kamailio's code and text.
func rpcFault(code int, msg string) error { return &kemi.RPCError{Code: code, Message: msg} }

// initRPC offers Kamailio's htable RPC commands.
func (mod *Module) initRPC(env *kemi.Env) {
	for _, m := range []kemi.RPCMethod{
		{Name: "htable.get", Doc: "Get one item from a hash table: table name and key.", Handler: mod.rpcGet},
		{Name: "htable.sets", Doc: "Set a string item in a hash table: table name, key and value.", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
			return mod.rpcSet(p, false)
		}},
		{Name: "htable.seti", Doc: "Set an integer item in a hash table: table name, key and integer value.", Handler: func(_ context.Context, p kemi.RPCParams) (any, error) {
			return mod.rpcSet(p, true)
		}},
		{Name: "htable.delete", Doc: "Delete an item from a hash table: table name and key.", Handler: mod.rpcDelete},
		{Name: "htable.dump", Doc: "Dump the items of a hash table, slot by slot: table name.", Handler: mod.rpcDump},
		{Name: "htable.reload", Doc: "Reload a hash table from its database table (all or nothing): table name.", Handler: mod.rpcReload},
		{Name: "htable.listTables", Doc: "List the hash tables and their definitions.", Handler: mod.rpcListTables},
		{Name: "htable.stats", Doc: "Item counts of every hash table: slots, all, min and max per slot.", Handler: mod.rpcStats},
	} {
		env.AddRPC(m)
	}
}

// strParam returns parameter i as a string: a missing one is Kamailio's
// fault with the usage text, one of the wrong type invalid params.
func strParam(p kemi.RPCParams, i int, usage string) (string, error) {
	if i >= p.Len() {
		return "", rpcFault(500, usage)
	}
	return p.Str(i)
}

// rpcTable returns the table named by parameter 0.
func (mod *Module) rpcTable(p kemi.RPCParams, missing string) (*table, error) {
	name, err := strParam(p, 0, missing)
	if err != nil {
		return nil, err
	}
	t := mod.tables[name]
	if t == nil {
		return nil, rpcFault(500, "No such htable")
	}
	return t, nil
}

// rpcTableKey returns the table and the key named by parameters 0 and 1.
func (mod *Module) rpcTableKey(p kemi.RPCParams, usage string) (*table, string, error) {
	t, err := mod.rpcTable(p, usage)
	if err != nil {
		return nil, "", err
	}
	key, err := strParam(p, 1, usage)
	if err != nil {
		return nil, "", err
	}
	return t, key, nil
}

// The htable.get result, as Kamailio's: flags 2 (Kamailio's
// AVP_VAL_STR) for a string, expire "NEVER" or the local time it ends.
type (
	rpcGetResult struct {
		Item rpcItem `json:"item"`
	}
	rpcItem struct {
		Name   string `json:"name"`
		Value  any    `json:"value"`
		Flags  int    `json:"flags"`
		Expire string `json:"expire"`
	}
)

// expireLayout is how Kamailio's htable.get shows when an item expires.
const expireLayout = "2006-01-02 15:04:05"

func (c *cell) rpcValue() any {
	if c.isStr {
		return c.str
	}
	return c.num
}

// rpcGet is htable.get NAME KEY.
func (mod *Module) rpcGet(_ context.Context, p kemi.RPCParams) (any, error) {
	t, key, err := mod.rpcTableKey(p, "Not enough parameters (htable name and key name)")
	if err != nil {
		return nil, err
	}
	c := t.get(nil, key)
	if c == nil {
		return nil, rpcFault(500, "Key name doesn't exist in htable.")
	}
	it := rpcItem{Name: key, Value: c.rpcValue(), Expire: "NEVER"}
	if c.isStr {
		it.Flags = 2
	}
	at := c.expire
	if t.shared != nil {
		if left := t.expiresIn(nil, key); left > 0 {
			at = t.now().Unix() + left
		}
	}
	if at > 0 {
		it.Expire = time.Unix(at, 0).Format(expireLayout)
	}
	return rpcGetResult{Item: it}, nil
}

// rpcSet is htable.sets and htable.seti (asInt) NAME KEY VALUE.
func (mod *Module) rpcSet(p kemi.RPCParams, asInt bool) (any, error) {
	const usage = "Not enough parameters (htable name, key name and value)"
	t, key, err := mod.rpcTableKey(p, usage)
	if err != nil {
		return nil, err
	}
	var v kemi.Value
	s, err := strParam(p, 2, usage)
	switch {
	case err != nil:
		return nil, err
	case asInt:
		n, err := p.Int(2)
		if err != nil {
			return nil, err // not an integer: invalid params
		}
		v = kemi.Int64(int64(n))
	default:
		v = kemi.Str(s)
	}
	if !t.set(nil, key, v, 0) {
		return nil, rpcFault(500, "Failed to set the item")
	}
	return "Ok. Key set to new value.", nil
}

// rpcDelete is htable.delete NAME KEY.
func (mod *Module) rpcDelete(_ context.Context, p kemi.RPCParams) (any, error) {
	t, key, err := mod.rpcTableKey(p, "Not enough parameters (htable name & key name)")
	if err != nil {
		return nil, err
	}
	if !t.del(nil, key) {
		return nil, rpcFault(404, "Key not found in htable.")
	}
	return "Ok. Key deleted.", nil
}

// The htable.dump result: the slots holding items, as Kamailio's.
type (
	rpcSlot struct {
		Entry int           `json:"entry"`
		Size  int           `json:"size"`
		Slot  []rpcDumpItem `json:"slot"`
	}
	rpcDumpItem struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
		Type  string `json:"type"`
	}
)

// slotItems returns the items of t by slot, each slot's keys sorted. A
// table kept in Redis has no slots of its own: its keys are grouped by
// the slot they would hash to, so its dump and stats look alike.
func (t *table) slotItems() [][]rpcDumpItem {
	out := make([][]rpcDumpItem, len(t.slots))
	add := func(i int, key string, c *cell) {
		typ := "int"
		if c.isStr {
			typ = "str"
		}
		out[i] = append(out[i], rpcDumpItem{Name: key, Value: c.rpcValue(), Type: typ})
	}
	if t.shared != nil {
		t.each(nil, func(key string, c *cell) (bool, bool) {
			add(int(maphash.String(t.seed, key)%uint64(len(t.slots))), key, c)
			return false, false
		})
	} else {
		for i := range t.slots {
			s := &t.slots[i]
			s.enter(nil) // waits while a script holds the slot with sht_lock, as Kamailio
			for k, c := range s.items {
				add(i, k, c)
			}
			s.mu.Unlock()
		}
	}
	for _, items := range out {
		sort.Slice(items, func(a, b int) bool { return items[a].Name < items[b].Name })
	}
	return out
}

// rpcDump is htable.dump NAME.
func (mod *Module) rpcDump(_ context.Context, p kemi.RPCParams) (any, error) {
	t, err := mod.rpcTable(p, "No htable name given")
	if err != nil {
		return nil, err
	}
	out := []rpcSlot{}
	for i, items := range t.slotItems() {
		if len(items) > 0 {
			out = append(out, rpcSlot{Entry: i, Size: len(items), Slot: items})
		}
	}
	return out, nil
}

// errNoDB is a reload of a table that has no database to read.
var errNoDB = errors.New("htable: no database")

// rpcReload is htable.reload NAME: the table's dbtable is read into new
// slots and, only if all of it loaded, they replace the table's.
func (mod *Module) rpcReload(_ context.Context, p kemi.RPCParams) (any, error) {
	t, err := mod.rpcTable(p, "No htable name given")
	if err != nil {
		return nil, err
	}
	switch err := mod.reloadTable(t); {
	case errors.Is(err, errNoDB):
		return nil, rpcFault(500, "No htable db_url")
	case err != nil:
		mod.log.Error("htable: reload failed", "table", t.name, "err", err)
		return nil, rpcFault(500, "Htable reload failed: "+err.Error())
	}
	mod.log.Info("htable: table reloaded by RPC", "table", t.name, "dbtable", t.dbtable, "items", t.count(nil))
	return "Ok. Htable reloaded.", nil
}

// reloadTable loads t again from its dbtable, all or nothing.
func (mod *Module) reloadTable(t *table) error {
	if mod.store == nil {
		return errNoDB
	}
	if t.shared != nil {
		return errors.New("the table is kept in Redis (redis=1)")
	}
	if t.dbtable == "" {
		return errors.New("the table has no dbtable")
	}
	// the same seed: each key lands in the slot it will live in
	fresh := newTable(t.spec, t.now)
	fresh.seed = t.seed
	if err := mod.store.load(fresh, mod.now().Unix()); err != nil {
		return err
	}
	for i := range t.slots {
		s := &t.slots[i]
		s.enter(nil)
		s.items = fresh.slots[i].items
		s.mu.Unlock()
	}
	return nil
}

// rpcTableInfo is one table of htable.listTables, as Kamailio's.
type rpcTableInfo struct {
	Name         string `json:"name"`
	DBTable      string `json:"dbtable"`
	DBMode       int    `json:"dbmode"`
	Expire       int64  `json:"expire"`
	UpdateExpire int    `json:"updateexpire"`
	Size         int    `json:"size"`
	DMQReplicate int    `json:"dmqreplicate"`
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortedTables returns the tables by name.
func (mod *Module) sortedTables() []*table {
	out := make([]*table, 0, len(mod.tables))
	for _, t := range mod.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// rpcListTables is htable.listTables.
func (mod *Module) rpcListTables(context.Context, kemi.RPCParams) (any, error) {
	if len(mod.tables) == 0 {
		return nil, rpcFault(500, "No htables")
	}
	var out []rpcTableInfo
	for _, t := range mod.sortedTables() {
		out = append(out, rpcTableInfo{Name: t.name, DBTable: t.dbtable, DBMode: b2i(t.dbmode), Expire: t.autoexpire,
			UpdateExpire: b2i(t.updateExpire), Size: len(t.slots)})
	}
	return out, nil
}

// rpcTableStats is one table of htable.stats: its slots and the items
// in all of them, the fewest and the most in one.
type rpcTableStats struct {
	Name  string `json:"name"`
	Slots int    `json:"slots"`
	All   int    `json:"all"`
	Min   int    `json:"min"`
	Max   int    `json:"max"`
}

// rpcStats is htable.stats.
func (mod *Module) rpcStats(context.Context, kemi.RPCParams) (any, error) {
	if len(mod.tables) == 0 {
		return nil, rpcFault(500, "No htables")
	}
	var out []rpcTableStats
	for _, t := range mod.sortedTables() {
		st := rpcTableStats{Name: t.name, Slots: len(t.slots)}
		for i, items := range t.slotItems() {
			n := len(items)
			st.All += n
			if i == 0 || n < st.Min {
				st.Min = n
			}
			st.Max = max(st.Max, n)
		}
		out = append(out, st)
	}
	return out, nil
}
