package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kemisip/kemi/engine"
	"github.com/kemisip/kemi/kemi"
	"github.com/urfave/cli/v2"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate a routing script without starting a server",
		Description: "Runs the real start-up path (modules' ModInit, script compile, the script's top level)\n" +
			"and lists, with file:line, every KSR function kemi lacks and every route name given to\n" +
			"t_on_* or KSR.route that the script does not define. Flags and config file are checked\n" +
			"as run checks them, listen addresses included; nothing is bound.\n" +
			"Exit status: 0 clean, 1 the script does not load or has problems, 2 usage or config error.",
		UsageText: "kemi check [-f routing.lua] [--config kemi.toml] [-D NAME[=VALUE]] [-l ADDR]",
		Flags:     scriptFlags(),
		Action:    checkAction,
	}
}

func checkAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("check takes no arguments; give the script with -f", exitUsage)
	}
	cfg, fc, err := buildConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if err := readScript(c, &cfg, fc); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	rep, err := engine.Check(cfg)
	if err != nil {
		return startError(err, fc)
	}
	for _, p := range rep.Info {
		fmt.Fprintln(c.App.Writer, p)
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(c.App.Writer, p)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(c.App.Writer, "%s: %d problem(s)\n", rep.Script, len(rep.Problems))
		return cli.Exit("", exitFailure)
	}
	fmt.Fprintf(c.App.Writer, "%s: ok (%d functions defined)\n", rep.Script, len(rep.Functions))
	return nil
}

func functionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "functions",
		Usage: "list the KSR functions kemi implements, against Kamailio's exports",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "missing", Usage: "list the Kamailio functions kemi does not implement instead"},
			&cli.StringFlag{Name: "module", Aliases: []string{"m"}, Usage: "only this `MODULE` (\"core\" for KSR.*)"},
		},
		UsageText: "kemi functions [--missing] [--module NAME]",
		Action:    functionsAction,
	}
}

func functionsAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("functions takes no arguments; give a module with --module", exitUsage)
	}
	exports, err := engine.Exports(engine.Config{})
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	have := map[string]map[string]kemi.Export{}
	for _, x := range exports {
		if have[x.Module] == nil {
			have[x.Module] = map[string]kemi.Export{}
		}
		have[x.Module][x.Name] = x
	}
	only := c.String("module")
	if err := knownModule(only, have); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if only == "core" {
		only = "(core)"
	}
	w := c.App.Writer
	modName := func(m string) string {
		if m == "" {
			return "(core)"
		}
		return m
	}
	if c.Bool("missing") {
		total := 0
		for _, mod := range kemi.KamailioModules() {
			if only != "" && modName(mod) != only {
				continue
			}
			var lines []string
			for _, k := range kemi.KamailioFunctions(mod) {
				if _, ok := have[mod][k.Name]; !ok {
					lines = append(lines, fmt.Sprintf("  %s(%s) -> %s", k.LuaName(), strings.ReplaceAll(k.Params, ",", ", "), k.Return))
				}
			}
			if len(lines) == 0 {
				continue
			}
			note := ""
			if have[mod] == nil && mod != "" {
				note = " (module not in kemi)"
			}
			fmt.Fprintf(w, "%s: %d missing%s\n", modName(mod), len(lines), note)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
			total += len(lines)
		}
		fmt.Fprintf(w, "%d Kamailio functions missing\n", total)
		return nil
	}
	mods := make([]string, 0, len(have))
	for m := range have {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	total := 0
	for _, mod := range mods {
		if only != "" && modName(mod) != only {
			continue
		}
		names := make([]string, 0, len(have[mod]))
		for n := range have[mod] {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "%s: %d of %d Kamailio functions\n", modName(mod), len(names), len(kemi.KamailioFunctions(mod)))
		for _, n := range names {
			x := have[mod][n]
			params := make([]string, len(x.Params))
			for i, p := range x.Params {
				params[i] = p.String()
			}
			fmt.Fprintf(w, "  %s(%s) -> %s\n", x.LuaName(), strings.Join(params, ", "), x.Return)
		}
		total += len(names)
	}
	fmt.Fprintf(w, "%d functions implemented\n", total)
	return nil
}

// knownModule refuses a --module that is neither one of kemi's modules
// nor one of Kamailio's, naming kemi's.
func knownModule(name string, have map[string]map[string]kemi.Export) error {
	if name == "" || name == "core" || have[name] != nil || len(kemi.KamailioFunctions(name)) > 0 {
		return nil
	}
	var mods []string
	for m := range have {
		if m != "" {
			mods = append(mods, m)
		}
	}
	sort.Strings(mods)
	return fmt.Errorf("functions: no module %q in kemi or Kamailio; kemi's modules: core, %s", name, strings.Join(mods, ", "))
}
