package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/kemisip/kemi/core/permissions"
	"github.com/redis/go-redis/v9"
)

// redisAddresses is the address table in Redis, laid out as permissions
// reads it: a hash at permissions.RedisAddressKey, ids from the counter
// at permissions.RedisIDKey.
type redisAddresses struct{ c redis.UniversalClient }

// redisRetries bounds the attempts of a change that other writers keep
// beating to the table.
const redisRetries = 10

func (t *redisAddresses) close() { t.c.Close() }

func (t *redisAddresses) rows(ctx context.Context) ([]permissions.AddressRow, error) {
	return permissions.ReadRedisAddressRows(ctx, t.c, "address")
}

// change reads the table under WATCH and writes in MULTI: a change by
// another writer in between makes the write fail, and it starts again.
func (t *redisAddresses) change(ctx context.Context, decide decideFunc) error {
	key := permissions.RedisAddressKey("address")
	for range redisRetries {
		err := t.c.Watch(ctx, func(tx *redis.Tx) error {
			rows, err := permissions.ReadRedisAddressRows(ctx, tx, "address")
			if err != nil {
				return err
			}
			add, del, err := decide(rows)
			if err != nil {
				return err
			}
			var row []byte
			var id, next int64
			if add != nil {
				// the counter is not watched: ids it hands out to writers
				// that then lose the race are only skipped
				if next, err = tx.Incr(ctx, permissions.RedisIDKey(key)).Result(); err != nil {
					return err
				}
				// above every row, even ones written without the counter,
				// so that the new row is the newest as in SQL
				id = next
				if len(rows) > 0 {
					id = max(id, rows[len(rows)-1].ID+1)
				}
				r := *add
				r.ID = id
				if row, err = r.MarshalJSON(); err != nil {
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for _, id := range del {
					p.HDel(ctx, key, strconv.FormatInt(id, 10))
				}
				if add != nil {
					p.HSet(ctx, key, strconv.FormatInt(id, 10), row)
					if id != next {
						p.Set(ctx, permissions.RedisIDKey(key), id, 0)
					}
				}
				return nil
			})
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
	}
	return fmt.Errorf("%s: changed by other writers %d times in a row: try again", key, redisRetries)
}
