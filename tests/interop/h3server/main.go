// qamp-interop-h3server: a small quic-go (0.46) HTTP/3 file server for qamp's interop suite.
//
// Serves one directory with Go's http.ServeContent (Range, If-Range, If-None-Match, 206/416),
// an ETag (size and modification time) and Last-Modified, like a stock Go server would.
// quic-go 0.46 cannot send a preferred_address (its server never sets one) and always sends
// disable_active_migration. Prints "listening on ADDR" once the socket is bound; SIGTERM/SIGINT
// close every connection and exit 0 after writing -stats.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

const maxLogLines = 200 // a test peer, but still bounded

type stats struct {
	mu            sync.Mutex
	Requests      int64 `json:"requests"`
	RangeRequests int64 `json:"range_requests"`
	IfRange       int64 `json:"if_range_requests"`
	Status206     int64 `json:"status_206"`
	Status200     int64 `json:"status_200"`
	Other         int64 `json:"status_other"`
	logged        int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func usage() {
	fmt.Fprintf(os.Stderr, `usage: qamp-interop-h3server [OPTIONS]
  -addr HOST:PORT   UDP address to listen on (required)
  -cert FILE        PEM certificate (required)
  -key FILE         PEM private key (required)
  -dir DIR          document root (required)
  -keylog FILE      append TLS secrets (NSS key log format) for tshark
  -stats FILE       JSON counters, written on exit
  -max-streams-bidi N  initial_max_streams_bidi (default 100)
`)
}

func main() {
	fs := flag.NewFlagSet("qamp-interop-h3server", flag.ContinueOnError)
	fs.Usage = usage
	addr := fs.String("addr", "", "")
	cert := fs.String("cert", "", "")
	key := fs.String("key", "", "")
	dir := fs.String("dir", "", "")
	keylog := fs.String("keylog", "", "")
	statsFile := fs.String("stats", "", "")
	bidi := fs.Int64("max-streams-bidi", 100, "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *addr == "" || *cert == "" || *key == "" || *dir == "" || fs.NArg() != 0 || *bidi < 1 {
		usage()
		os.Exit(2)
	}
	crt, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: certificate: %v\n", err)
		os.Exit(1)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{crt}, NextProtos: []string{http3.NextProtoH3}}
	if *keylog != "" {
		f, err := os.OpenFile(*keylog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: -keylog: %v\n", err)
			os.Exit(1)
		}
		defer f.Close()
		tlsConf.KeyLogWriter = f
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: -dir: %v\n", err)
		os.Exit(1)
	}
	st := &stats{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		serveFile(rec, r, root)
		st.mu.Lock()
		st.Requests++
		if r.Header.Get("Range") != "" {
			st.RangeRequests++
		}
		if r.Header.Get("If-Range") != "" {
			st.IfRange++
		}
		switch rec.status {
		case 200:
			st.Status200++
		case 206:
			st.Status206++
		default:
			st.Other++
		}
		if st.logged < maxLogLines {
			st.logged++
			fmt.Fprintf(os.Stderr, "h3server: %s %s %s range=%q if-range=%q -> %d\n", r.Proto, r.Method, r.URL.Path,
				r.Header.Get("Range"), r.Header.Get("If-Range"), rec.status)
		}
		st.mu.Unlock()
	})
	udp, err := net.ListenPacket("udp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: listen %s: %v\n", *addr, err)
		os.Exit(1)
	}
	srv := &http3.Server{
		Handler:    handler,
		TLSConfig:  tlsConf,
		QUICConfig: &quic.Config{MaxIncomingStreams: *bidi, MaxIdleTimeout: 30 * time.Second},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(udp) }()
	fmt.Fprintf(os.Stderr, "h3server: listening on %s\n", udp.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	rc := 0
	select {
	case <-sig:
	case err := <-done:
		fmt.Fprintf(os.Stderr, "error: serve: %v\n", err)
		rc = 1
	}
	srv.Close()
	udp.Close()
	if *statsFile != "" {
		st.mu.Lock()
		b, _ := json.MarshalIndent(st, "", "  ")
		st.mu.Unlock()
		if err := os.WriteFile(*statsFile, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "error: -stats: %v\n", err)
			rc = 1
		}
	}
	os.Exit(rc)
}

// serveFile serves root + the cleaned URL path (never outside root) with http.ServeContent,
// which implements Range, If-Range, If-Modified-Since and If-None-Match against the ETag set here.
func serveFile(w http.ResponseWriter, r *http.Request, root string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel := path.Clean("/" + r.URL.Path)
	if strings.Contains(rel, "\x00") {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
