package main

import (
	"fmt"

	"github.com/kemisip/kemi/db"
	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/urfave/cli/v2"
)

// moduleDB reads --config / KEMI_CONFIG and --db-url / KEMI_DB_URL as
// `kemi run` does, and returns the parameters the config file gives
// module and the database the module would open there: its db_url in the
// file, else --db-url / KEMI_DB_URL, else [core] db_url, else
// db.DefaultURL (db.ModuleURL). A config file that does not load is a
// usage error (a cli.ExitCoder); a URL that does not parse is a plain
// error naming the module, for the caller to give its exit status.
func moduleDB(c *cli.Context, module string) (*kemi.Params, db.URL, error) {
	var cfg engine.Config
	if c.IsSet("db-url") {
		cfg.DBURL = c.String("db-url")
	}
	if path := c.String("config"); path != "" {
		fc, err := engine.LoadFile(path)
		if err != nil {
			return nil, db.URL{}, cli.Exit(err.Error(), exitUsage)
		}
		if err := fc.Apply(&cfg); err != nil {
			return nil, db.URL{}, cli.Exit(err.Error(), exitUsage)
		}
	}
	params := kemi.NewParams(module, cfg.ModParams[module])
	u, err := db.ModuleURL(params.Str("db_url", ""), cfg.DBURL)
	if err != nil {
		return params, u, fmt.Errorf("%s: %w", module, err)
	}
	return params, u, nil
}

// exitError is err as a cli exit error with status code, unless it is
// one already.
func exitError(err error, code int) error {
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec
	}
	return cli.Exit(err.Error(), code)
}
