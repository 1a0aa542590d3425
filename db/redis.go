package db

import (
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
			TLSConfig: f.TLSConfig,
		}
	case q.Has("addr"):
		c, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("db: cluster URL %s: %w", URL{Raw: raw, Kind: KindRedis}, err)
		}
		o = &redis.UniversalOptions{
			Addrs: c.Addrs, Username: c.Username, Password: c.Password,
			TLSConfig: c.TLSConfig, IsClusterMode: true,
		}
	default:
		s, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("db: redis URL %s: %w", URL{Raw: raw, Kind: KindRedis}, err)
		}
		o = &redis.UniversalOptions{
			Addrs: []string{s.Addr}, DB: s.DB, Username: s.Username, Password: s.Password,
			TLSConfig: s.TLSConfig, Protocol: s.Protocol,
		}
		if s.Network == "unix" {
			// UniversalOptions has no network: dial the socket ourselves.
			addr := s.Addr
			o.Dialer = func(ctx context.Context, _, _ string) (netConn, error) {
				return dialUnix(ctx, addr)
			}
		}
	}
	o.DialTimeout = redisDialTimeout
	o.ReadTimeout = redisIOTimeout
	o.WriteTimeout = redisIOTimeout
	o.MaxRetries = 1
	return o, nil
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
