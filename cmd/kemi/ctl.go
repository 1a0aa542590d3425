package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kemisip/kemi/engine"
	"github.com/urfave/cli/v2"
)

// ctlCommand is `kemi ctl METHOD [PARAMS...]`, the JSON-RPC client of a
// running kemi, as kamcmd is Kamailio's.
func ctlCommand() *cli.Command {
	return &cli.Command{
		Name:      "ctl",
		Usage:     "call an RPC method of a running kemi (core.uptime, dispatcher.list, ...), like kamcmd",
		ArgsUsage: "METHOD [PARAMS...]",
		Description: "Sends one JSON-RPC 2.0 request to a running kemi and prints the result as JSON.\n" +
			"Parameters that look like integers are sent as numbers, others as strings, as kamcmd\n" +
			"does; -s sends every parameter as a string, and a parameter written s:TEXT is sent\n" +
			"as the string TEXT. system.listMethods lists the methods, system.methodHelp NAME\n" +
			"explains one.\n\n" +
			"The server is, in this order: --socket, --url, the config file's [core] ctl_socket,\n" +
			"then /RPC on its metrics_addr, else http://127.0.0.1:9090/RPC.\n" +
			"Exit status: 0 a result, 1 an error answered or no answer, 2 usage or config error.",
		Flags: append(ctlFlags(),
			&cli.BoolFlag{Name: "strings", Aliases: []string{"s"}, Usage: "send every parameter as a string"},
		),
		Action: ctlAction,
	}
}

// ctlFlags are the flags that find a running kemi: kemi ctl's and kemi ds's.
func ctlFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "url", Aliases: []string{"u"}, Usage: "JSON-RPC `URL` of the server, http://host:port/RPC", EnvVars: []string{"KEMI_CTL_URL"}},
		&cli.StringFlag{Name: "socket", Usage: "the server's control socket `PATH` (kemi run --ctl-socket)", EnvVars: []string{"KEMI_CTL_SOCKET"}},
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE` (kemi.toml) whose [core] ctl_socket, metrics_addr and ctl_token find the server", EnvVars: []string{"KEMI_CONFIG"}},
		&cli.StringFlag{Name: "token", Usage: "control `TOKEN` sent as Authorization: Bearer (needed from another host)", EnvVars: []string{"KEMI_CTL_TOKEN"}},
		&cli.DurationFlag{Name: "timeout", Value: 35 * time.Second, Usage: "give up after `DURATION`"},
	}
}

// defaultRPCURL is /RPC on the default metrics address of kemi run.
const defaultRPCURL = "http://" + defaultMetricsAddr + engine.RPCPath

// ctlClientFrom builds the client the flags and the config file name.
func ctlClientFrom(c *cli.Context) (*rpcClient, error) {
	cl := &rpcClient{url: c.String("url"), socket: c.String("socket"), token: c.String("token"), timeout: c.Duration("timeout")}
	if path := c.String("config"); path != "" {
		fc, err := engine.LoadFile(path)
		if err != nil {
			return nil, exitError(err, exitUsage)
		}
		if cl.token == "" {
			cl.token = fc.Core.CtlToken
		}
		if cl.url == "" && cl.socket == "" {
			switch {
			case fc.Core.CtlSocket != "":
				cl.socket = fc.ResolvePath(fc.Core.CtlSocket)
			case fc.Core.MetricsAddr != nil && *fc.Core.MetricsAddr != "off" && *fc.Core.MetricsAddr != "":
				u, err := rpcURLOf(*fc.Core.MetricsAddr)
				if err != nil {
					return nil, cli.Exit(fc.Errorf("metrics_addr", "%v", err).Error(), exitUsage)
				}
				cl.url = u
			}
		}
	}
	if cl.url == "" && cl.socket == "" {
		cl.url = defaultRPCURL
	}
	return cl, nil
}

// rpcURLOf is the /RPC URL of a metrics address; a wildcard host is
// reached on loopback.
func rpcURLOf(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	switch host {
	case "", "0.0.0.0", "*":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + engine.RPCPath, nil
}

func ctlAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("kemi ctl needs a METHOD (kemi ctl system.listMethods lists them)", exitUsage)
	}
	cl, err := ctlClientFrom(c)
	if err != nil {
		return err
	}
	method := c.Args().First()
	params := ctlParams(c.Args().Tail(), c.Bool("strings"))
	res, err := cl.call(c.Context, method, params)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	return printJSON(c, res)
}

// ctlParams turns command-line words into JSON-RPC parameters: integers
// as numbers unless asString, "s:TEXT" as the string TEXT.
func ctlParams(args []string, asString bool) []any {
	params := make([]any, 0, len(args))
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "s:"); ok {
			params = append(params, s)
			continue
		}
		if !asString {
			if n, err := strconv.ParseInt(a, 10, 64); err == nil {
				params = append(params, n)
				continue
			}
		}
		params = append(params, a)
	}
	return params
}

// printJSON prints a result indented, as kamcmd prints a reply.
func printJSON(c *cli.Context, res json.RawMessage) error {
	var out bytes.Buffer
	if err := json.Indent(&out, res, "", "  "); err != nil {
		return cli.Exit(fmt.Sprintf("the result is not JSON: %v", err), exitFailure)
	}
	out.WriteByte('\n')
	_, err := c.App.Writer.Write(out.Bytes())
	return err
}
