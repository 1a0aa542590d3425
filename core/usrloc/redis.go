package usrloc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
	"github.com/redis/go-redis/v9"
)

// redisStore keeps the location table in Redis so that several kemi nodes
// share it. There is no local cache: a lookup on node B sees what node A
// wrote the moment A's Update returned. Each binding is a key of its own
// with PXAT at its expiry, so Redis itself removes expired bindings; the
// expiry timer only cleans the indexes and reports what expired. The key
// layout is in README.md.
type redisStore struct {
	c         redis.UniversalClient
	useDomain bool
}

func newRedisStore(c redis.UniversalClient, o Options) *redisStore {
	return &redisStore{c: c, useDomain: o.UseDomain}
}

const redisPrefix = "kemi:loc:"

// redisKeys are the keys of one AOR of one table.
type redisKeys struct {
	aor     string
	index   string // ZSET ruid -> expires (Unix ms, +inf permanent)
	version string // counter WATCHed by Update, bumped by every change
	binding string // prefix of the binding keys: binding+ruid
	aors    string // SET of the table's AORs
	exp     string // ZSET aor\nruid -> expires, bindings that will expire
	last    string // HASH aor\nruid -> binding, for the contact-expired event
}

func keysOf(table, aor string) redisKeys {
	t := redisPrefix + table
	return redisKeys{
		aor:     aor,
		index:   t + ":aor:" + aor,
		version: t + ":ver:" + aor,
		binding: t + ":b:" + aor + ":",
		aors:    t + ":aors",
		exp:     t + ":exp",
		last:    t + ":last",
	}
}

const redisTables = redisPrefix + "tables"

// redisBinding is a binding as stored: Kamailio's column names, times in
// Unix milliseconds (0: never).
type redisBinding struct {
	AOR          string `json:"aor"`
	Contact      string `json:"contact"`
	Received     string `json:"received,omitempty"`
	Path         string `json:"path,omitempty"`
	Expires      int64  `json:"expires"`
	Q            int    `json:"q"`
	CallID       string `json:"callid"`
	CSeq         int    `json:"cseq"`
	Flags        uint32 `json:"flags,omitempty"`
	CFlags       uint32 `json:"cflags,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	Socket       string `json:"socket,omitempty"`
	Methods      int    `json:"methods"`
	RUID         string `json:"ruid"`
	Instance     string `json:"instance,omitempty"`
	RegID        int    `json:"reg_id,omitempty"`
	ServerID     int    `json:"server_id,omitempty"`
	ConnID       int64  `json:"connection_id,omitempty"`
	KeepAlive    int    `json:"keepalive,omitempty"`
	LastModified int64  `json:"last_modified"`
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func encodeBinding(b *kemi.Binding) string {
	out, _ := json.Marshal(redisBinding{
		AOR: b.AOR, Contact: b.Contact, Received: b.Received, Path: b.Path,
		Expires: unixMilli(b.Expires), Q: b.Q, CallID: b.CallID, CSeq: b.CSeq,
		Flags: b.Flags, CFlags: b.CFlags, UserAgent: b.UserAgent, Socket: b.Socket,
		Methods: b.Methods, RUID: b.RUID, Instance: b.Instance, RegID: b.RegID,
		ServerID: b.ServerID, ConnID: b.ConnID, KeepAlive: b.KeepAlive,
		LastModified: unixMilli(b.LastModified),
	})
	return string(out)
}

func decodeBinding(s string) (kemi.Binding, error) {
	var r redisBinding
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return kemi.Binding{}, err
	}
	return kemi.Binding{
		AOR: r.AOR, Contact: r.Contact, Received: r.Received, Path: r.Path,
		Expires: fromMilli(r.Expires), Q: r.Q, CallID: r.CallID, CSeq: r.CSeq,
		Flags: r.Flags, CFlags: r.CFlags, UserAgent: r.UserAgent, Socket: r.Socket,
		Methods: r.Methods, RUID: r.RUID, Instance: r.Instance, RegID: r.RegID,
		ServerID: r.ServerID, ConnID: r.ConnID, KeepAlive: r.KeepAlive,
		LastModified: fromMilli(r.LastModified),
	}, nil
}

// readScript returns the stored bindings of an AOR in one round trip:
// the RUIDs of its index and the values of their keys, false for a key
// Redis expired.
var readScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
if #ids == 0 then return {} end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[1] .. id end
return redis.call('MGET', unpack(keys))
`)

// deleteScript removes one binding (ARGV[3]) or all of an AOR (ARGV[3]
// empty) with their index entries and returns how many live ones it
// removed. KEYS: index, version, aors, exp, last. ARGV: binding prefix,
// aor, ruid.
var deleteScript = redis.NewScript(`
local ids
if ARGV[3] ~= '' then ids = {ARGV[3]} else ids = redis.call('ZRANGE', KEYS[1], 0, -1) end
local n = 0
for _, id in ipairs(ids) do
  local alive = redis.call('DEL', ARGV[1] .. id)
  local indexed = redis.call('ZREM', KEYS[1], id)
  if alive == 1 and indexed == 1 then n = n + 1 end
  redis.call('ZREM', KEYS[4], ARGV[2] .. '\n' .. id)
  redis.call('HDEL', KEYS[5], ARGV[2] .. '\n' .. id)
end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[2])
else
  redis.call('INCR', KEYS[2])
end
return n
`)

// claimScript takes one binding that expired off the indexes and returns
// it, or nil when another node took it or it was refreshed meanwhile.
// KEYS: exp, last, index, version, aors. ARGV: member, now (ms), binding
// key, ruid, aor.
var claimScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
local v = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('EXISTS', ARGV[3]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[4])
  if redis.call('ZCARD', KEYS[3]) == 0 then
    redis.call('DEL', KEYS[4])
    redis.call('SREM', KEYS[5], ARGV[5])
  else
    redis.call('INCR', KEYS[4])
  end
end
return v
`)

func (s *redisStore) UseDomain() bool { return s.useDomain }

// read returns the bindings of k that Redis has not expired.
func (s *redisStore) read(ctx context.Context, c redis.Scripter, k redisKeys) ([]kemi.Binding, error) {
	vals, err := readScript.Run(ctx, c, []string{k.index}, k.binding).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]kemi.Binding, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // expired by Redis: the timer cleans the index
		}
		b, err := decodeBinding(str)
		if err != nil {
			return nil, fmt.Errorf("binding of %s: %w", k.aor, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *redisStore) Lookup(ctx context.Context, table, aor string) ([]kemi.Binding, error) {
	bs, err := s.read(ctx, s.c, keysOf(table, aor))
	if err != nil {
		return nil, locErr("lookup "+aor, err)
	}
	return live(bs, time.Now()), nil
}

// maxTxRetries bounds the WATCH/MULTI retries of one Update: every retry
// means another node changed the AOR in between.
const maxTxRetries = 20

func (s *redisStore) Update(ctx context.Context, table, aor string, fn func([]kemi.Binding) (kemi.BindingChange, error)) error {
	k := keysOf(table, aor)
	var cbErr error
	txf := func(tx *redis.Tx) error {
		cur, err := s.read(ctx, tx, k)
		if err != nil {
			return err
		}
		cur = live(cur, time.Now())
		ch, err := fn(slices.Clone(cur))
		if err == nil {
			err = checkChange(aor, ch)
		}
		if err != nil {
			cbErr = err
			return nil
		}
		after := apply(cur, ch)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, ruid := range ch.Delete {
				member := aor + "\n" + ruid
				p.Del(ctx, k.binding+ruid)
				p.ZRem(ctx, k.index, ruid)
				p.ZRem(ctx, k.exp, member)
				p.HDel(ctx, k.last, member)
			}
			for i := range ch.Put {
				b := &ch.Put[i]
				if containsRUID(ch.Delete, b.RUID) {
					continue
				}
				enc, member := encodeBinding(b), aor+"\n"+b.RUID
				if b.Expires.IsZero() {
					p.Set(ctx, k.binding+b.RUID, enc, 0)
					p.ZAdd(ctx, k.index, redis.Z{Score: math.Inf(1), Member: b.RUID})
					p.ZRem(ctx, k.exp, member)
					p.HDel(ctx, k.last, member)
					continue
				}
				p.SetArgs(ctx, k.binding+b.RUID, enc, redis.SetArgs{ExpireAt: b.Expires})
				score := float64(b.Expires.UnixMilli())
				p.ZAdd(ctx, k.index, redis.Z{Score: score, Member: b.RUID})
				p.ZAdd(ctx, k.exp, redis.Z{Score: score, Member: member})
				p.HSet(ctx, k.last, member, enc)
			}
			if len(after) == 0 {
				p.Del(ctx, k.version)
				p.SRem(ctx, k.aors, aor)
			} else {
				p.Incr(ctx, k.version)
				p.SAdd(ctx, k.aors, aor)
			}
			p.SAdd(ctx, redisTables, table)
			return nil
		})
		return err
	}
	for range maxTxRetries {
		cbErr = nil
		err := s.c.Watch(ctx, txf, k.version)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if cbErr != nil {
			return cbErr
		}
		if err != nil {
			return locErr("update "+aor, err)
		}
		return nil
	}
	return locErr("update "+aor, fmt.Errorf("the AOR changed under %d attempts in a row", maxTxRetries))
}

func (s *redisStore) del(ctx context.Context, table, aor, ruid string) (int, error) {
	k := keysOf(table, aor)
	n, err := deleteScript.Run(ctx, s.c, []string{k.index, k.version, k.aors, k.exp, k.last}, k.binding, aor, ruid).Int()
	if err != nil {
		return 0, locErr("delete "+aor, err)
	}
	return n, nil
}

func (s *redisStore) DeleteRUID(ctx context.Context, table, aor, ruid string) (bool, error) {
	if ruid == "" {
		return false, nil
	}
	n, err := s.del(ctx, table, aor, ruid)
	return n > 0, err
}

func (s *redisStore) DeleteAOR(ctx context.Context, table, aor string) (int, error) {
	return s.del(ctx, table, aor, "")
}

func (s *redisStore) AORs(ctx context.Context, table string) ([]string, error) {
	aors, err := s.c.SMembers(ctx, keysOf(table, "").aors).Result()
	if err != nil {
		return nil, locErr("list", err)
	}
	slices.Sort(aors)
	return aors, nil
}

func (s *redisStore) Tables(ctx context.Context) ([]string, error) {
	tables, err := s.c.SMembers(ctx, redisTables).Result()
	if err != nil {
		return nil, locErr("tables", err)
	}
	slices.Sort(tables)
	return tables, nil
}

// expireBatch is how many due bindings one round trip of an Expire pass
// claims; a pass takes batches until none is due, so that a backlog
// never builds up between passes.
const expireBatch = 1000

func (s *redisStore) Expire(ctx context.Context, now time.Time) ([]Expired, error) {
	tables, err := s.c.SMembers(ctx, redisTables).Result()
	if err != nil {
		return nil, locErr("expire", err)
	}
	var out []Expired
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	for _, table := range tables {
		for {
			got, more, err := s.claimDue(ctx, table, nowMS)
			out = append(out, got...)
			if err != nil {
				return out, err
			}
			if !more {
				break
			}
		}
	}
	return out, nil
}

// claimDue claims up to expireBatch due bindings of table and
// returns those this node took, and whether more may be due. Every due
// member it read leaves the exp zset (claimed here or by another node)
// or was refreshed past now, so the batches of a pass end.
func (s *redisStore) claimDue(ctx context.Context, table, nowMS string) (out []Expired, more bool, err error) {
	tk := keysOf(table, "")
	members, err := s.c.ZRangeByScore(ctx, tk.exp, &redis.ZRangeBy{Min: "-inf", Max: nowMS, Count: expireBatch}).Result()
	if err != nil {
		return nil, false, locErr("expire", err)
	}
	if len(members) == 0 {
		return nil, false, nil
	}
	// EVAL, not EVALSHA: a pipeline cannot fall back when a restarted
	// Redis lost its script cache.
	cmds := make([]*redis.Cmd, len(members))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			aor, ruid, _ := strings.Cut(m, "\n")
			k := keysOf(table, aor)
			cmds[i] = claimScript.Eval(ctx, p, []string{k.exp, k.last, k.index, k.version, k.aors}, m, nowMS, k.binding+ruid, ruid, aor)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, locErr("expire", err)
	}
	for _, c := range cmds {
		v, err := c.Text()
		if errors.Is(err, redis.Nil) {
			continue // claimed by another node, or refreshed
		}
		if err != nil {
			// the member stays due: stop here rather than take it again
			return out, false, locErr("expire", err)
		}
		if b, err := decodeBinding(v); err == nil {
			out = append(out, Expired{Table: table, Binding: b})
		}
	}
	return out, len(members) == expireBatch, nil
}

func (s *redisStore) Count(ctx context.Context) (users, contacts int, err error) {
	tables, err := s.c.SMembers(ctx, redisTables).Result()
	if err != nil {
		return 0, 0, locErr("count", err)
	}
	for _, table := range tables {
		aors, err := s.c.SMembers(ctx, keysOf(table, "").aors).Result()
		if err != nil {
			return 0, 0, locErr("count", err)
		}
		users += len(aors)
		cmds := make([]*redis.IntCmd, len(aors))
		_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, aor := range aors {
				cmds[i] = p.ZCard(ctx, keysOf(table, aor).index)
			}
			return nil
		})
		if err != nil {
			return 0, 0, locErr("count", err)
		}
		for _, c := range cmds {
			contacts += int(c.Val())
		}
	}
	return users, contacts, nil
}

func (s *redisStore) Close() error { return s.c.Close() }
