// Command kemi runs, checks and lists the functions of Kamailio-style KEMI
// Lua routing scripts.
//
//	kemi run -f routing.lua -l udp:127.0.0.1:5060
//	kemi check -f routing.lua
//	kemi functions --missing
//	kemi ctl core.uptime
//	kemi ds list
//	kemi version
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	// The standard modules: the binary links them, the engine does not.
	_ "github.com/kemisip/kemi/core/all"
)

// version is stamped at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// Exit statuses: usage and config errors are told apart from everything
// else (a script that does not load, problems found by check, a server
// that cannot start or fails).
const (
	exitFailure = 1
	exitUsage   = 2
)

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
		// urfave/cli's own errors: flags it could not parse
		fmt.Fprintln(stderr, "kemi:", err)
		return exitUsage
	}
	return 0
}

func newApp() *cli.App {
	app := &cli.App{
		Name:    "kemi",
		Usage:   "SIP routing engine for Kamailio-style KEMI Lua scripts",
		Version: version,
		Description: "kemi runs a Lua routing script written against Kamailio's KEMI interface\n" +
			"(ksr_request_route, KSR.sl.sl_send_reply, KSR.x.exit, ...) as a SIP proxy.\n" +
			"Scripts run on gopher-lua, a Lua 5.1 implementation.\n\n" +
			"Exit status: 0 success, 2 usage or config error (unknown command or flag, bad value,\n" +
			"unreadable or invalid config file), 1 any other error.",
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
			userCommand(),
			ulCommand(),
			addressCommand(),
			ctlCommand(),
			dsCommand(),
			manCommand(),
			testCommand(),
		},
		Before: refuseUnknownCommand,
		Action: func(c *cli.Context) error {
			// no command: the help, as a usage error
			c.App.Writer = c.App.ErrWriter
			cli.ShowAppHelp(c)
			return cli.Exit("", exitUsage)
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
	for _, cmd := range app.Commands {
		// one line on stderr, as for the other usage errors; urfave/cli
		// would print the command's help on stdout
		name := cmd.Name
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return cli.Exit(fmt.Sprintf("%v (kemi %s --help lists the flags)", err, name), exitUsage)
		}
	}
	return app
}

// refuseUnknownCommand turns "kemi nosuch" and "kemi help nosuch" into a
// usage error; urfave/cli would print "No help topic" with status 3.
func refuseUnknownCommand(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) > 0 && (args[0] == "help" || args[0] == "h") {
		args = args[1:]
	}
	if len(args) == 0 || c.App.Command(args[0]) != nil {
		return nil
	}
	var names []string
	for _, cmd := range c.App.Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return cli.Exit(fmt.Sprintf("unknown command %q (commands: %s)", args[0], strings.Join(names, ", ")), exitUsage)
}
