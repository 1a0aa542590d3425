package engine

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/kemisip/kemi/kemi"
)

// RPCPath is where JSON-RPC requests are posted, on the metrics address
// and on the control socket, as Kamailio's xhttp + jsonrpcs serve them.
const RPCPath = "/RPC"

// rpcHandler serves JSON-RPC 2.0 over HTTP: POST RPCPath with one request
// or a batch.
type rpcHandler struct {
	t     *rpcTable
	token string
	// local is set on the control socket, whose peers were checked when
	// they connected (see ownerListener); on TCP, loopback peers are
	// served and others only with the token.
	local bool
	log   *slog.Logger
}

func (h *rpcHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeRPC(w, http.StatusMethodNotAllowed, errResponse(nil, kemi.RPCInvalidRequest, "invalid request: POST a JSON-RPC 2.0 request"))
		return
	}
	if !h.local && !h.allowed(r) {
		h.log.Warn("rpc request refused", "remote", r.RemoteAddr)
		writeRPC(w, http.StatusForbidden, errResponse(nil, kemi.RPCInvalidRequest,
			"refused: only loopback clients, or clients with the control token (ctl_token), may call"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, RPCMaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeRPC(w, http.StatusRequestEntityTooLarge, errResponse(nil, kemi.RPCInvalidRequest,
				fmt.Sprintf("invalid request: larger than %d bytes", RPCMaxBody)))
			return
		}
		writeRPC(w, http.StatusBadRequest, errResponse(nil, kemi.RPCParseError, "parse error: "+err.Error()))
		return
	}
	out := h.t.serve(r.Context(), body)
	if out == nil {
		w.WriteHeader(http.StatusNoContent) // notifications only
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(out, '\n'))
}

// allowed reports whether a TCP client may call: from a loopback address,
// or with "Authorization: Bearer <ctl_token>" when a token is configured.
func (h *rpcHandler) allowed(r *http.Request) bool {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
		return true
	}
	if h.token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.token)) == 1
}

// writeRPC writes one response object with an HTTP status.
func writeRPC(w http.ResponseWriter, status int, r *rpcResponse) {
	b, _ := json.Marshal(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// listenCtlSocket binds the control socket at path, readable and writable
// by its owner only. A socket file left by a server that died is replaced;
// any other file at path is left alone and is an error.
func listenCtlSocket(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("engine: control socket %s: a file that is not a socket is in the way", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("engine: control socket %s: another server answers on it", path)
		}
		os.Remove(path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("engine: control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("engine: control socket: %w", err)
	}
	return ln, nil
}

// ownerListener accepts control socket connections from this process's
// user and root only; others are closed at once.
type ownerListener struct {
	net.Listener
	uid int
	log *slog.Logger
}

func (l ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && (uid == l.uid || uid == 0) {
			return c, nil
		}
		l.log.Warn("control socket connection refused: not the server's user", "peer_uid", uid, "err", err)
		c.Close()
	}
}

// startCtl serves JSON-RPC on the control socket: ln when given (bound by
// the supervisor), else a socket bound at path.
func (e *Engine) startCtl(path string, ln net.Listener) (*metricsServer, error) {
	if ln == nil {
		uln, err := listenCtlSocket(path)
		if err != nil {
			return nil, err
		}
		ln = uln
	}
	mux := http.NewServeMux()
	mux.Handle(RPCPath, &rpcHandler{t: e.rpc, local: true, log: e.log})
	owned := ownerListener{Listener: ln, uid: os.Getuid(), log: e.log}
	return e.serveHTTP("control socket", mux, owned, metricsWriteTimeout), nil
}

// CtlAddr returns the path of the control socket served, or "".
func (e *Engine) CtlAddr() string {
	if e.ctl == nil {
		return ""
	}
	return e.ctl.ln.Addr().String()
}
