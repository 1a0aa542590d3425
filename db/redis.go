package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis timeouts: a route waits for Redis, so a server that went away must
// fail the call quickly instead of holding a worker.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 500 * time.Millisecond
)

// quietRedis silences go-redis's own logger, which is process-wide and
// writes every failed dial to stderr, twice a second while a server is
// down: the modules that use Redis log their errors themselves, through
// slog and rate-limited, and count them.
var quietRedis sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// redisOptions reads a Redis URL as go-redis does. A master_name query
// parameter makes it a Sentinel (failover) URL, addr parameters without
// one a cluster URL; otherwise it names one server.
func redisOptions(raw string) (*redis.UniversalOptions, error) {
	p, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("db: redis URL %s: %w", hidePasswords(raw), err)
	}
	q := p.Query()
	var o *redis.UniversalOptions
	var t tuning
	switch {
	case q.Has("master_name"):
		f, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("db: sentinel URL %s: %w", URL{Raw: raw, Kind: KindRedis}, err)
		}
		o = &redis.UniversalOptions{
			Addrs: f.SentinelAddrs, MasterName: f.MasterName, DB: f.DB,
			Username: f.Username, Password: f.Password,
			SentinelUsername: f.SentinelUsername, SentinelPassword: f.SentinelPassword,
			TLSConfig: f.TLSConfig, Protocol: f.Protocol,
		}
		t = tuning{f.ClientName, f.PoolSize, f.PoolTimeout, f.MinIdleConns, f.MaxIdleConns, f.MaxActiveConns,
			f.ConnMaxIdleTime, f.ConnMaxLifetime, f.PoolFIFO, f.MaxRetries, f.MinRetryBackoff, f.MaxRetryBackoff,
			f.DialTimeout, f.ReadTimeout, f.WriteTimeout}
	case q.Has("addr"):
		c, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("db: cluster URL %s: %w", URL{Raw: raw, Kind: KindRedis}, err)
		}
		o = &redis.UniversalOptions{
			Addrs: c.Addrs, Username: c.Username, Password: c.Password,
			TLSConfig: c.TLSConfig, IsClusterMode: true, Protocol: c.Protocol,
		}
		t = tuning{c.ClientName, c.PoolSize, c.PoolTimeout, c.MinIdleConns, c.MaxIdleConns, c.MaxActiveConns,
			c.ConnMaxIdleTime, c.ConnMaxLifetime, c.PoolFIFO, c.MaxRetries, c.MinRetryBackoff, c.MaxRetryBackoff,
			c.DialTimeout, c.ReadTimeout, c.WriteTimeout}
	default:
		s, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("db: redis URL %s: %w", URL{Raw: raw, Kind: KindRedis}, err)
		}
		o = &redis.UniversalOptions{
			Addrs: []string{s.Addr}, DB: s.DB, Username: s.Username, Password: s.Password,
			TLSConfig: s.TLSConfig, Protocol: s.Protocol,
		}
		t = tuning{s.ClientName, s.PoolSize, s.PoolTimeout, s.MinIdleConns, s.MaxIdleConns, s.MaxActiveConns,
			s.ConnMaxIdleTime, s.ConnMaxLifetime, s.PoolFIFO, s.MaxRetries, s.MinRetryBackoff, s.MaxRetryBackoff,
			s.DialTimeout, s.ReadTimeout, s.WriteTimeout}
		if s.Network == "unix" {
			// UniversalOptions has no network: dial the socket ourselves.
			addr := s.Addr
			o.Dialer = func(ctx context.Context, _, _ string) (netConn, error) {
				return dialUnix(ctx, addr)
			}
		}
	}
	t.apply(o)
	return o, nil
}

// tuning is what a Redis URL's query may set besides the address and
// credentials (pool_size=, read_timeout=, ...), as go-redis parsed it:
// the kinds of URL parse into different option types.
type tuning struct {
	clientName                             string
	poolSize                               int
	poolTimeout                            time.Duration
	minIdle, maxIdle, maxActive            int
	connMaxIdleTime, connMaxLifetime       time.Duration
	poolFIFO                               bool
	maxRetries                             int
	minRetryBackoff, maxRetryBackoff       time.Duration
	dialTimeout, readTimeout, writeTimeout time.Duration
}

// apply sets t on o. The timeouts and retries the URL leaves unset are
// kemi's short ones.
func (t tuning) apply(o *redis.UniversalOptions) {
	o.ClientName = t.clientName
	o.PoolSize, o.PoolTimeout, o.PoolFIFO = t.poolSize, t.poolTimeout, t.poolFIFO
	o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = t.minIdle, t.maxIdle, t.maxActive
	o.ConnMaxIdleTime, o.ConnMaxLifetime = t.connMaxIdleTime, t.connMaxLifetime
	o.MinRetryBackoff, o.MaxRetryBackoff = t.minRetryBackoff, t.maxRetryBackoff
	o.DialTimeout = cmp.Or(t.dialTimeout, redisDialTimeout)
	o.ReadTimeout = cmp.Or(t.readTimeout, redisIOTimeout)
	o.WriteTimeout = cmp.Or(t.writeTimeout, redisIOTimeout)
	o.MaxRetries = cmp.Or(t.maxRetries, 1)
}

// OpenRedis connects to the Redis server(s) u names and checks that they
// answer. The client reconnects by itself when the server comes back.
func OpenRedis(ctx context.Context, u URL) (redis.UniversalClient, error) {
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) })
	o, err := redisOptions(u.Raw)
	if err != nil {
		return nil, err
	}
	c := redis.NewUniversalClient(o)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("db: %s: %w", u, err)
	}
	return c, nil
}
