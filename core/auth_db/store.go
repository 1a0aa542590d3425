package auth_db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/kemisip/kemi/db"
	"github.com/redis/go-redis/v9"
)

// ErrNoDatabase is returned by a store whose SQLite file was never
// created: no subscriber exists yet.
var ErrNoDatabase = errors.New("no subscriber database yet")

// identifier is what a table or column name may be: it goes into SQL.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

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

// sqliteStore reads Kamailio's subscriber table in a SQLite file, on one
// connection with its selects prepared on the driver (again when the file
// is reopened): database/sql's rows and scanning cost more than the
// indexed select itself.
type sqliteStore struct {
	file *db.SQLite
	user string // user_column
	dom  string // domain_column

	mu    sync.Mutex
	d     *sql.DB // the handle conn belongs to: another one means the file was reopened
	conn  *sql.Conn
	stmts map[stmtKey]driver.Stmt
}

// stmtKey names a prepared select: its text is built only to prepare it.
type stmtKey struct {
	table, col string
	domain     bool
}

// stmtLocked returns the select of k on the driver connection dc.
func (s *sqliteStore) stmtLocked(ctx context.Context, dc any, k stmtKey) (driver.StmtQueryContext, error) {
	st, ok := s.stmts[k]
	if !ok {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return nil, errors.New("the SQLite driver cannot prepare")
		}
		q := "SELECT " + k.col + " FROM " + k.table + " WHERE " + s.user + "=?"
		if k.domain {
			q += " AND " + s.dom + "=?"
		}
		var err error
		if st, err = p.PrepareContext(ctx, q+" LIMIT 1"); err != nil {
			return nil, err
		}
		s.stmts[k] = st
	}
	q, ok := st.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("the SQLite driver cannot query")
	}
	return q, nil
}

// connLocked returns the connection to d, opening it when d is new.
func (s *sqliteStore) connLocked(ctx context.Context, d *sql.DB) (*sql.Conn, error) {
	if d == s.d && s.conn != nil {
		return s.conn, nil
	}
	s.dropLocked()
	c, err := d.Conn(ctx)
	if err != nil {
		return nil, err
	}
	s.d, s.conn, s.stmts = d, c, map[stmtKey]driver.Stmt{}
	return c, nil
}

func (s *sqliteStore) dropLocked() {
	if s.conn != nil {
		// on the connection they were prepared on
		s.conn.Raw(func(any) error {
			for _, st := range s.stmts {
				st.Close()
			}
			return nil
		})
		s.conn.Close()
	}
	s.d, s.conn, s.stmts = nil, nil, nil
}

// get runs without a deadline: the driver would start a goroutine per
// query to watch it, and the file's busy timeout already bounds the
// wait for another writer's lock.
func (s *sqliteStore) get(_ context.Context, table, col, user, domain string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.file.DB(false)
	if errors.Is(err, db.ErrNoFile) {
		return "", false, ErrNoDatabase
	}
	if err != nil {
		s.dropLocked()
		return "", false, err
	}
	ctx := context.Background()
	c, err := s.connLocked(ctx, d)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	var (
		v     string
		found bool
	)
	err = c.Raw(func(dc any) error {
		st, err := s.stmtLocked(ctx, dc, stmtKey{table: table, col: col, domain: domain != ""})
		if err != nil {
			return err
		}
		args := []driver.NamedValue{{Ordinal: 1, Value: user}, {Ordinal: 2, Value: domain}}
		if domain == "" {
			args = args[:1]
		}
		rows, err := st.QueryContext(ctx, args)
		if err != nil {
			return err
		}
		defer rows.Close()
		var dest [1]driver.Value
		switch err := rows.Next(dest[:]); {
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
		found = true
		switch x := dest[0].(type) {
		case string:
			v = x
		case []byte:
			v = string(x)
		case nil:
		default:
			v = fmt.Sprint(x)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) {
			s.dropLocked()
		}
		return "", false, fmt.Errorf("%s: %w", s.file.Path(), err)
	}
	return v, found, nil
}

func (s *sqliteStore) close() {
	s.mu.Lock()
	s.dropLocked()
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
