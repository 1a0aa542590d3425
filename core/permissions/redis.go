package permissions

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// RedisAddressKey is the Redis hash of the address table named table:
// field the row's id in decimal, value the row as JSON with Kamailio's
// column names (AddressRow.MarshalJSON).
func RedisAddressKey(table string) string { return "kemi:address:" + table }

// RedisTrustedKey is the Redis hash of the trusted table named table,
// laid out as RedisAddressKey.
func RedisTrustedKey(table string) string { return "kemi:trusted:" + table }

// RedisIDKey is the counter that hands out the ids of the rows of the
// table whose hash is key (INCR).
func RedisIDKey(key string) string { return key + ":id" }

// redisRow is one field of a table hash.
type redisRow struct {
	id    int64
	value string
}

// redisRows returns the fields of a table hash by increasing id; a field
// that is not an id above 0 is an error naming the key.
func redisRows(key string, h map[string]string) ([]redisRow, error) {
	out := make([]redisRow, 0, len(h))
	for f, v := range h {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 || strconv.FormatInt(id, 10) != f {
			return nil, fmt.Errorf("%s: field %q: want a row id above 0", key, f)
		}
		out = append(out, redisRow{id, v})
	}
	slices.SortFunc(out, func(a, b redisRow) int { return cmp.Compare(a.id, b.id) })
	return out, nil
}

// decodeRedisRows decodes the fields of a table hash into rows by
// increasing id. A value that is not a row, or whose id is not its
// field, is an error naming the key and the value.
func decodeRedisRows[R any](key string, h map[string]string, id func(*R) *int64) ([]R, error) {
	fields, err := redisRows(key, h)
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(fields))
	for _, f := range fields {
		var r R
		if err := json.Unmarshal([]byte(f.value), &r); err != nil {
			return nil, fmt.Errorf("%s: row %d %s: %w", key, f.id, f.value, err)
		}
		switch p := id(&r); *p {
		case 0:
			*p = f.id
		case f.id:
		default:
			return nil, fmt.Errorf("%s: row %d %s: id %d is not its field", key, f.id, f.value, *p)
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadRedisAddressRows reads every row of the address table named table
// from Redis (RedisAddressKey), in id order. c may be a transaction
// (redis.Tx) watching the key.
func ReadRedisAddressRows(ctx context.Context, c redis.Cmdable, table string) ([]AddressRow, error) {
	key := RedisAddressKey(table)
	h, err := c.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return decodeRedisRows(key, h, addressID)
}

func addressID(r *AddressRow) *int64 { return &r.ID }
func trustedID(r *TrustedRow) *int64 { return &r.ID }

// redisSource reads both tables from Redis, in one transaction so that
// a load sees both as they were at one moment.
type redisSource struct {
	c                   redis.UniversalClient
	url                 string
	addrKey, trustedKey string
}

func (s *redisSource) rows(ctx context.Context) ([]AddressRow, []TrustedRow, error) {
	var a, t *redis.MapStringStringCmd
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		a = p.HGetAll(ctx, s.addrKey)
		t = p.HGetAll(ctx, s.trustedKey)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read %s and %s: %w", s.url, s.addrKey, s.trustedKey, err)
	}
	arows, err := decodeRedisRows(s.addrKey, a.Val(), addressID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.url, err)
	}
	trows, err := decodeRedisRows(s.trustedKey, t.Val(), trustedID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.url, err)
	}
	return arows, trows, nil
}

func (s *redisSource) where(trusted bool) string {
	if trusted {
		return s.url + ": " + s.trustedKey
	}
	return s.url + ": " + s.addrKey
}

func (s *redisSource) close() { s.c.Close() }
