// Command kemi runs, checks and lists the functions of Kamailio-style KEMI
// Lua routing scripts.
//
//	kemi run -f routing.lua -l udp:127.0.0.1:5060
//	kemi check -f routing.lua
//	kemi functions --missing
//	kemi version
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// version is stamped at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs the CLI and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp()
	app.Writer, app.ErrWriter = stdout, stderr
	if err := app.Run(args); err != nil {
		if ec, ok := err.(cli.ExitCoder); ok {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(stderr, "kemi:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(stderr, "kemi:", err)
		return 2
	}
	return 0
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "kemi",
		Usage:   "SIP routing engine for Kamailio-style KEMI Lua scripts",
		Version: version,
		Description: "kemi runs a Lua routing script written against Kamailio's KEMI interface\n" +
			"(ksr_request_route, KSR.sl.sl_send_reply, KSR.x.exit, ...) as a SIP proxy.\n" +
			"Scripts run on gopher-lua, a Lua 5.1 implementation.",
		Commands: []*cli.Command{
			runCommand(),
			checkCommand(),
			functionsCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "kemi %s\n", version)
					return nil
				},
			},
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(err.Error(), 2)
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
}
