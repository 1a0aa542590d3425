package htable

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/kemisip/kemi/db"
	"github.com/redis/go-redis/v9"
)

// redisRows keeps htable tables in Redis the way Kamailio's db_redis
// does with keys "htable=entry:key_name": one hash per row,
// <dbtable>:entry::<key_name>, whose fields are the columns (key_name,
// key_type, value_type, key_value, expires) as decimal text. Kamailio
// reads a table by scanning <dbtable>:entry::*, and so does kemi.
type redisRows struct {
	c   redis.UniversalClient
	url string
}

// redisIOTimeout bounds one load or write back.
const redisIOTimeout = 30 * time.Second

// dialTimeout bounds connecting to Redis at start.
const dialTimeout = 5 * time.Second

// dialRedis connects to the Redis server of u, waiting dialTimeout at
// most.
func dialRedis(u db.URL) (redis.UniversalClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	return db.OpenRedis(ctx, u)
}

func openRedisRows(u db.URL) (*redisRows, error) {
	c, err := dialRedis(u)
	if err != nil {
		return nil, fmt.Errorf("htable: dbtable: %w", err)
	}
	return &redisRows{c: c, url: u.String()}, nil
}

func (r *redisRows) where() string { return r.url }

func (r *redisRows) close() { r.c.Close() }

// entryKey is the hash of the row of key in dbtable.
func entryKey(dbtable, key string) string { return dbtable + ":entry::" + key }

// entries returns the keys of the rows of dbtable.
func (r *redisRows) entries(ctx context.Context, dbtable string) ([]string, error) {
	var keys []string
	iter := r.c.Scan(ctx, 0, entryKey(dbtable, "*"), scanCount).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// redisRow is a row as read, with what orders it.
type redisRow struct {
	row
	id  int64
	key string
}

func (r *redisRows) read(dbtable string) ([]row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisIOTimeout)
	defer cancel()
	keys, err := r.entries(ctx, dbtable)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, err = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	all := make([]redisRow, 0, len(keys))
	for i, cmd := range cmds {
		h := cmd.Val()
		if len(h) == 0 {
			continue // removed since the scan
		}
		rr, err := parseRedisRow(keys[i], h)
		if err != nil {
			return nil, err
		}
		all = append(all, rr)
	}
	// the order of SQL's ORDER BY key_name, id: an array's items keep
	// the order of their ids
	slices.SortFunc(all, func(a, b redisRow) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.id, b.id), cmp.Compare(a.key, b.key))
	})
	out := make([]row, len(all))
	for i := range all {
		out[i] = all[i].row
	}
	return out, nil
}

// parseRedisRow reads the hash of one row. A column that is missing is
// NULL: 0 for the integer columns, an error for key_value (as a NULL
// there is in SQLite).
func parseRedisRow(key string, h map[string]string) (redisRow, error) {
	rr := redisRow{key: key, row: row{name: h["key_name"]}}
	for col, dst := range map[string]*int64{"id": &rr.id, "key_type": &rr.keyType, "value_type": &rr.valType, "expires": &rr.expires} {
		v, ok := h[col]
		if !ok || v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return rr, fmt.Errorf("%s: %s %q is not an integer", key, col, v)
		}
		*dst = n
	}
	if v, ok := h["key_value"]; ok {
		rr.value = sql.NullString{String: v, Valid: true}
	}
	return rr, nil
}

// write replaces the rows of every dbtable in one MULTI/EXEC.
func (r *redisRows) write(names []string, rows map[string][]row) error {
	ctx, cancel := context.WithTimeout(context.Background(), redisIOTimeout)
	defer cancel()
	old := map[string][]string{}
	for _, name := range names {
		keys, err := r.entries(ctx, name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		old[name] = keys
	}
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			if len(old[name]) > 0 {
				p.Del(ctx, old[name]...)
			}
			for _, rw := range rows[name] {
				p.HSet(ctx, entryKey(name, rw.name),
					"key_name", rw.name, "key_type", "0", "value_type", strconv.FormatInt(rw.valType, 10),
					"key_value", rw.value.String, "expires", strconv.FormatInt(rw.expires, 10))
			}
		}
		return nil
	})
	return err
}
