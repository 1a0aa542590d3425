package auth_db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kemisip/kemi/db"
	"github.com/redis/go-redis/v9"
)

// ErrNoDatabase is returned by a store whose SQLite file was never
// created: no subscriber exists yet.
var ErrNoDatabase = errors.New("no subscriber database yet")

// RedisKey returns the Redis key of a subscriber: a hash with the
// fields password, ha1 and ha1b (and whatever else the columns name).
func RedisKey(table, user, domain string) string {
	return "kemi:subscriber:" + table + ":" + user + "@" + domain
}

// store reads subscribers. domain is "" when it is not part of the
// match (use_domain off).
type store interface {
	// get returns the value of column col of the subscriber, and whether
	// there is one. It bounds its own wait (a route waits for it).
	get(ctx context.Context, table, col, user, domain string) (string, bool, error)
	close()
}

// sqliteStore reads Kamailio's subscriber table in a SQLite file with
// prepared statements, prepared again when the file is reopened.
type sqliteStore struct {
	file *db.SQLite
	user string // user_column
	dom  string // domain_column

	mu    sync.Mutex
	conn  *sql.DB
	stmts map[stmtKey]*sql.Stmt
}

// stmtKey names a prepared select: its text is built only to prepare it.
type stmtKey struct {
	table, col string
	domain     bool
}

func (s *sqliteStore) stmt(conn *sql.DB, k stmtKey) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn != s.conn {
		for _, st := range s.stmts {
			st.Close()
		}
		s.conn, s.stmts = conn, map[stmtKey]*sql.Stmt{}
	}
	if st, ok := s.stmts[k]; ok {
		return st, nil
	}
	q := "SELECT " + k.col + " FROM " + k.table + " WHERE " + s.user + "=?"
	if k.domain {
		q += " AND " + s.dom + "=?"
	}
	st, err := conn.Prepare(q + " LIMIT 1")
	if err != nil {
		return nil, err
	}
	s.stmts[k] = st
	return st, nil
}

// get runs without a deadline: the driver would start a goroutine per
// query to watch it, and the file's busy timeout already bounds the
// wait for another writer's lock.
func (s *sqliteStore) get(_ context.Context, table, col, user, domain string) (string, bool, error) {
	conn, err := s.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return "", false, ErrNoDatabase
	}
	if err != nil {
		return "", false, err
	}
	st, err := s.stmt(conn, stmtKey{table: table, col: col, domain: domain != ""})
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	var row *sql.Row
	if domain != "" {
		row = st.QueryRow(user, domain)
	} else {
		row = st.QueryRow(user)
	}
	var v sql.NullString
	switch err := row.Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	return v.String, true, nil
}

func (s *sqliteStore) close() {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.mu.Unlock()
	s.file.Close()
}

// redisStore reads subscribers from Redis hashes (see RedisKey). The
// domain is always part of the key: use_domain does not apply.
type redisStore struct {
	c redis.UniversalClient
}

func (s *redisStore) get(ctx context.Context, table, col, user, domain string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, err := s.c.HGet(ctx, RedisKey(table, user, domain), col).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

func (s *redisStore) close() { s.c.Close() }

// memoryStore keeps subscribers in memory, for tests: key RedisKey,
// value the columns.
type memoryStore struct {
	mu   sync.RWMutex
	subs map[string]map[string]string
}

func (s *memoryStore) put(table, user, domain string, cols map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[string]map[string]string{}
	}
	s.subs[RedisKey(table, user, domain)] = cols
}

func (s *memoryStore) get(_ context.Context, table, col, user, domain string) (string, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if domain == "" {
		// without use_domain any domain matches
		prefix := RedisKey(table, user, "")
		for k, cols := range s.subs {
			if strings.HasPrefix(k, prefix) {
				return cols[col], true, nil
			}
		}
		return "", false, nil
	}
	cols, ok := s.subs[RedisKey(table, user, domain)]
	return cols[col], ok, nil
}

func (s *memoryStore) close() {}
