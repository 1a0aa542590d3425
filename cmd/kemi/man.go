package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// manCommand prints kemi(1), the man page made from the CLI's own help:
// `make man` writes it to docs/kemi.1. It is hidden, so that the help it
// is made from does not list it.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the man page kemi(1), in roff",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("man takes no arguments", exitUsage)
			}
			page, err := manPage()
			if err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			fmt.Fprint(c.App.Writer, page)
			return nil
		},
	}
}

// manPage renders the help of a fresh app as a section 1 man page with
// urfave/cli's ToMan, which leaves out what `kemi CMD --help` shows
// below the usage line: each command's description goes in after its
// usage. An ENVIRONMENT section lists the variable of every flag.
func manPage() (string, error) {
	app := newApp()
	withDescriptions(app.Commands)
	page, err := app.ToManWithSection(1)
	if err != nil {
		return "", fmt.Errorf("man page: %w", err)
	}
	return page + manEnvironment(app.Commands) + manSeeAlso, nil
}

// withDescriptions appends each command's description to its usage, the
// markdown that ToMan renders: characters markdown would take for
// emphasis or code are escaped (t_on_* stays t_on_*).
func withDescriptions(cmds []*cli.Command) {
	md := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`")
	for _, c := range cmds {
		if c.Description != "" {
			c.Usage += "\n\n" + md.Replace(c.Description)
		}
		withDescriptions(c.Subcommands)
	}
}

// manEnvironment lists each flag's environment variable with the flags
// that read it and their commands.
func manEnvironment(cmds []*cli.Command) string {
	type use struct {
		flag string
		cmds []string
	}
	vars := map[string][]*use{}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			name := strings.TrimSpace(path + " " + c.Name)
			for _, f := range c.Flags {
				ef, ok := f.(cli.DocGenerationFlag)
				if !ok {
					continue
				}
				flag := "--" + f.Names()[0]
				for _, env := range ef.GetEnvVars() {
					i := slices.IndexFunc(vars[env], func(u *use) bool { return u.flag == flag })
					if i < 0 {
						vars[env] = append(vars[env], &use{flag: flag})
						i = len(vars[env]) - 1
					}
					vars[env][i].cmds = append(vars[env][i].cmds, "kemi "+name)
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk("", cmds)
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(".SH ENVIRONMENT\n.PP\nA flag may also be set by its environment variable; a flag on the command line wins.\n")
	for _, n := range names {
		var uses []string
		for _, u := range vars[n] {
			uses = append(uses, u.flag+" ("+strings.Join(u.cmds, ", ")+")")
		}
		fmt.Fprintf(&b, ".TP\n.B %s\n%s\n", roffEscape(n), roffEscape(strings.Join(uses, "; ")))
	}
	b.WriteString(".TP\n.B NOTIFY_SOCKET\n" +
		"set by systemd for a service of Type=notify: kemi run sends READY=1 once the SIP sockets are bound and the worker process serves the loaded script, " +
		"RELOADING=1 and READY=1 around a reload (SIGHUP), STOPPING=1 at the stop, and a STATUS line; see examples/systemd\n" +
		".TP\n.B WATCHDOG_USEC\n" +
		"set by systemd for a service with WatchdogSec=: kemi run sends WATCHDOG=1 twice per period, when every worker has run a probe job in the half period before\n")
	return b.String()
}

const manSeeAlso = ".SH SEE ALSO\n.BR kamailio (8),\n.BR systemd.service (5),\n.BR sd_notify (3)\n"

// roffEscape makes s safe as roff text: backslashes and hyphens escaped,
// no line starting with a control character.
func roffEscape(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
