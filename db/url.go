// Package db opens the databases kemi modules keep their tables in, named
// by a URL the way Kamailio's db_url names them: an embedded SQLite file
// (the default), a Redis server for several nodes sharing state, or memory.
//
// It knows Kamailio's table schema and version rows, so that a database
// written by Kamailio opens in kemi and the other way round. The tables'
// contents are the business of the modules that own them (usrloc the
// location table, auth_db the subscriber table).
package db

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// DefaultURL is the database when neither the core nor a module names one:
// a SQLite file kemi.db in the working directory.
const DefaultURL = "sqlite://kemi.db"

// Kinds of database a URL names.
const (
	KindSQLite = "sqlite"
	KindRedis  = "redis"
	KindMemory = "memory"
)

// URL is a parsed db_url.
type URL struct {
	// Raw is the URL as written.
	Raw string
	// Kind is KindSQLite, KindRedis or KindMemory.
	Kind string
	// Path is the SQLite file (Kind sqlite).
	Path string
}

// String returns the URL without a password, for logs and errors.
func (u URL) String() string {
	if u.Kind != KindRedis {
		return u.Raw
	}
	return hidePasswords(u.Raw)
}

// hidePasswords masks the password of a URL's user information and the
// value of a password query parameter (go-redis reads a Sentinel master's
// password there). It works on the text, so that a URL that does not
// parse is masked too.
func hidePasswords(raw string) string {
	const mask = "xxxxx"
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	// The user information ends at the last '@' before the path: a
	// password may hold '?' or '#' that its writer did not escape.
	authority, tail := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		if i := strings.IndexAny(authority, "?#"); i >= 0 {
			authority, tail = authority[:i], authority[i:]+tail
		}
	} else {
		host := authority[at:]
		if i := strings.IndexAny(host, "?#"); i >= 0 {
			host, tail = host[:i], host[i:]+tail
		}
		user, _, _ := strings.Cut(authority[:at], ":")
		if strings.Contains(authority[:at], ":") {
			user += ":" + mask
		}
		authority = user + host
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if hasQuery {
		params := strings.Split(query, "&")
		for i, kv := range params {
			if k, _, _ := strings.Cut(kv, "="); k == "password" {
				params[i] = k + "=" + mask
			}
		}
		path += "?" + strings.Join(params, "&")
	}
	return scheme + "://" + authority + path
}

// ParseURL parses a db_url:
//
//	sqlite:///var/lib/kemi/kemi.db   an absolute path
//	sqlite://kemi.db                 relative to the working directory
//	redis://[user:pass@]host:port/db, rediss:// (TLS) and unix://, as
//	                                 go-redis parses them; with master_name=
//	                                 Sentinel, with addr= a cluster (see OpenRedis);
//	                                 go-redis's query options (pool_size=,
//	                                 read_timeout=, ...) are kept; unset
//	                                 timeouts are 2 s to dial, 500 ms to read
//	                                 or write, with one retry
//	memory                           nothing kept across restarts
//
// An empty string is DefaultURL.
func ParseURL(s string) (URL, error) {
	if s == "" {
		s = DefaultURL
	}
	u := URL{Raw: s}
	scheme, rest, ok := strings.Cut(s, "://")
	switch {
	case s == KindMemory || s == "memory://" || s == "memory:":
		u.Kind = KindMemory
	case !ok:
		return u, fmt.Errorf("db: %q: not a database URL (sqlite:///path/kemi.db, redis://host:6379/0 or memory)", s)
	case scheme == "sqlite" || scheme == "sqlite3":
		if rest == "" {
			return u, fmt.Errorf("db: %q: no file", s)
		}
		// sqlite:///abs/path keeps the leading slash; sqlite://rel/path is
		// relative. Query parameters are not ours to pass on.
		if i := strings.IndexByte(rest, '?'); i >= 0 {
			return u, fmt.Errorf("db: %q: SQLite URLs take no options", s)
		}
		u.Kind = KindSQLite
		u.Path = filepath.Clean(rest)
	case scheme == "redis" || scheme == "rediss" || scheme == "unix":
		if _, err := redisOptions(s); err != nil {
			return u, err
		}
		u.Kind = KindRedis
	default:
		return u, fmt.Errorf("db: %q: unknown database kind %q (sqlite, redis, rediss, unix, memory)", s, scheme)
	}
	return u, nil
}

// ModuleURL parses the database a module opens: its own db_url
// parameter when it is set and not empty, else the core db_url
// (kemi.Env.DBURL), else DefaultURL. usrloc, auth_db and kemi user/ul
// choose it this way, so that they open the same database.
func ModuleURL(param, core string) (URL, error) {
	if param == "" {
		param = core
	}
	return ParseURL(param)
}

// Resolve returns the URL with a relative SQLite path joined to dir: a
// db_url written in a config file is relative to the file's folder.
// Other kinds are returned as they are.
func (u URL) Resolve(dir string) URL {
	if u.Kind != KindSQLite || filepath.IsAbs(u.Path) || dir == "" {
		return u
	}
	u.Path = filepath.Join(dir, u.Path)
	u.Raw = "sqlite://" + u.Path // an absolute path gives sqlite:///abs
	return u
}

// RedisCluster reports whether u names a Redis Cluster (addr parameters
// without master_name), whose keys live on several nodes: a module that
// updates several keys of one record atomically cannot use it.
func (u URL) RedisCluster() bool {
	if u.Kind != KindRedis {
		return false
	}
	p, err := url.Parse(u.Raw)
	if err != nil {
		return false
	}
	q := p.Query()
	return q.Has("addr") && !q.Has("master_name")
}
