package htable

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kamailio's bounds on the size parameter: 2^size slots, at least 8
// (size 0 or 1) and at most 2^14 (size above 31).
const (
	defaultSizeExp = 4
	minSlots       = 8
	maxSlots       = 1 << 14
)

// spec is one table definition, Kamailio's htable parameter
// "name=>size=8;autoexpire=300;initval=0;updateexpire=1".
type spec struct {
	name         string
	slots        int
	autoexpire   int64 // seconds; 0: items never expire
	hasInit      bool  // initval given: missing items read as it, sht_inc creates them
	initval      int64
	updateExpire bool
	dbtable      string // database table loaded at start; "": none
	dbmode       bool   // write the table back to dbtable at shutdown
	redis        bool   // kemi's redis=1: the items live in Redis, shared by every node
}

// identifier is what a dbtable name may be: it goes into SQL as it is.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// redisName is what the name of a table kept in Redis may be: it is part
// of its keys (kemi:ht:<name>:<key>), so it holds no ':' and nothing
// SCAN's pattern would read as a wildcard.
var redisName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// parseSpec parses one definition as Kamailio's ht_table_spec does.
// Custom columns (cols) and DMQ replication are refused: kemi does not
// support them yet, and ignoring them would lose data silently. The key
// redis=1 is kemi's own: the table lives in Redis (see shared.go).
func parseSpec(def string) (spec, error) {
	name, params, ok := strings.Cut(def, "=>")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return spec{}, fmt.Errorf("htable definition %q: want name=>key=value;...", def)
	}
	s := spec{name: name, updateExpire: true}
	size := int64(defaultSizeExp)
	for _, p := range strings.Split(params, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		key, val, _ := strings.Cut(p, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		bad := func(want string) error {
			return fmt.Errorf("htable definition %q: %s=%q: want %s", def, key, val, want)
		}
		switch key {
		case "size", "autoexpire", "updateexpire", "redis":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return spec{}, bad("a non-negative integer")
			}
			switch key {
			case "size":
				size = int64(n)
			case "autoexpire":
				s.autoexpire = int64(n)
			case "redis":
				s.redis = n != 0
			default:
				s.updateExpire = n != 0
			}
		case "initval":
			n, err := strconv.ParseInt(val, 10, 32)
			if err != nil {
				return spec{}, bad("an integer")
			}
			s.hasInit, s.initval = true, n
		case "dbmode", "dmqreplicate":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return spec{}, bad("a non-negative integer")
			}
			if key == "dbmode" {
				// Kamailio writes back on any value but 0
				s.dbmode = n != 0
			} else if n != 0 {
				return spec{}, fmt.Errorf("htable definition %q: %s is not yet supported by kemi", def, key)
			}
		case "dbtable":
			if !identifier.MatchString(val) {
				return spec{}, bad("a table name (letters, digits and _)")
			}
			s.dbtable = val
		case "cols":
			return spec{}, fmt.Errorf("htable definition %q: %s is not yet supported by kemi", def, key)
		default:
			return spec{}, fmt.Errorf("htable definition %q: unknown key %q", def, key)
		}
	}
	if s.redis && !redisName.MatchString(s.name) {
		return spec{}, fmt.Errorf("htable definition %q: a table with redis=1 needs a name of letters, digits, '_', '.' and '-'", def)
	}
	if s.redis && s.dbtable != "" {
		return spec{}, fmt.Errorf("htable definition %q: redis=1 and dbtable: a table kept in Redis is not loaded from a database", def)
	}
	switch {
	case size <= 1:
		s.slots = minSlots
	case size > 31:
		s.slots = maxSlots
	default:
		s.slots = 1 << size
		if s.slots > maxSlots {
			// kemi's own bound: a slot is a lock and a map, and 2^14 of them
			// already spread the keys of any table a script keeps
			s.slots = maxSlots
		}
	}
	return s, nil
}
