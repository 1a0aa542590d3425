package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// dsCommand is `kemi ds list`: the dispatcher's destinations and their
// state, from a running kemi (the dispatcher.list RPC method).
func dsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ds",
		Usage: "show the dispatcher's destinations of a running kemi",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list every destination set with each destination's flags, priority, attributes and latency",
				Description: "Calls dispatcher.list on a running kemi (found as kemi ctl finds it) and prints one\n" +
					"line per destination. FLAGS are Kamailio's letters: the state, A active, I inactive,\n" +
					"D disabled, T trying; then P probing or X not probing. --json prints the reply as is.",
				Flags: append(ctlFlags(),
					&cli.BoolFlag{Name: "json", Usage: "print dispatcher.list's JSON reply instead of a table"},
				),
				Action: dsList,
			},
		},
	}
}

// dsListReply is dispatcher.list's reply, as Kamailio 5.6 shapes it.
type dsListReply struct {
	NRSETS  int `json:"NRSETS"`
	RECORDS []struct {
		SET struct {
			ID      int `json:"ID"`
			TARGETS []struct {
				DEST dsDest `json:"DEST"`
			} `json:"TARGETS"`
		} `json:"SET"`
	} `json:"RECORDS"`
}

// dsDest is one destination of dispatcher.list.
type dsDest struct {
	URI      string `json:"URI"`
	FLAGS    string `json:"FLAGS"`
	PRIORITY int    `json:"PRIORITY"`
	ATTRS    *struct {
		BODY string `json:"BODY"`
	} `json:"ATTRS"`
	LATENCY *struct {
		AVG     float64 `json:"AVG"`
		STD     float64 `json:"STD"`
		EST     float64 `json:"EST"`
		MAX     float64 `json:"MAX"`
		TIMEOUT int     `json:"TIMEOUT"`
	} `json:"LATENCY"`
}

func dsList(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("kemi ds list takes no arguments", exitUsage)
	}
	cl, err := ctlClientFrom(c)
	if err != nil {
		return err
	}
	res, err := cl.call(c.Context, "dispatcher.list", nil)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if c.Bool("json") {
		return printJSON(c, res)
	}
	if err := writeDSTable(c.App.Writer, res); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	return nil
}

// writeDSTable prints dispatcher.list's reply as a table, sets in
// increasing id, destinations in the order the server gave; the LATENCY
// column only when the server measures it (ds_ping_latency_stats).
func writeDSTable(w io.Writer, res json.RawMessage) error {
	var r dsListReply
	if err := json.Unmarshal(res, &r); err != nil {
		return fmt.Errorf("dispatcher.list answered something else than Kamailio's shape: %w", err)
	}
	sets := r.RECORDS
	sort.SliceStable(sets, func(i, j int) bool { return sets[i].SET.ID < sets[j].SET.ID })
	latency := false
	for _, s := range sets {
		for _, t := range s.SET.TARGETS {
			latency = latency || t.DEST.LATENCY != nil
		}
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "SET\tURI\tFLAGS\tPRIORITY\tATTRS"
	if latency {
		header += "\tLATENCY (ms)"
	}
	fmt.Fprintln(tw, header)
	n := 0
	for _, s := range sets {
		for _, t := range s.SET.TARGETS {
			d := t.DEST
			attrs := "-"
			if d.ATTRS != nil && d.ATTRS.BODY != "" {
				attrs = d.ATTRS.BODY
			}
			line := fmt.Sprintf("%d\t%s\t%s\t%d\t%s", s.SET.ID, d.URI, d.FLAGS, d.PRIORITY, attrs)
			if latency {
				line += "\t" + dsLatency(d)
			}
			fmt.Fprintln(tw, line)
			n++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(w, "(no destinations)")
	}
	return nil
}

// dsLatency formats a destination's latency figures, as Kamailio's
// LATENCY object gives them (milliseconds).
func dsLatency(d dsDest) string {
	l := d.LATENCY
	if l == nil {
		return "-"
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return fmt.Sprintf("avg %s std %s est %s max %s timeouts %d", f(l.AVG), f(l.STD), f(l.EST), f(l.MAX), l.TIMEOUT)
}
