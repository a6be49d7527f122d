// qamp-interop-h3client: a small quic-go (0.46) HTTP/3 client for qamp's interop suite.
//
// GETs every URL (each -requests times) on one QUIC connection, saves each body under -out and
// prints one JSON object: per request the status, protocol, size and SHA-256 of the saved bytes,
// and how many QUIC connections were dialled (one, when every request shared the connection).
// -max-streams-bidi / -max-streams-uni are the initial_max_streams_{bidi,uni} it announces
// (issue 11: a client announcing 1000 aborted qamp-server once).
//
// Exit status: 0 when every request got a 2xx response and its body was saved, 1 otherwise,
// 2 on misuse. The bytes are judged by the caller (size + SHA-256 against the source file).
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

type result struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Proto  string `json:"proto"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	File   string `json:"file"`
	Error  string `json:"error,omitempty"`
}

type report struct {
	Connections     int64    `json:"connections"`
	MaxStreamsBidi  int64    `json:"max_streams_bidi"`
	MaxStreamsUni   int64    `json:"max_streams_uni"`
	Requests        []result `json:"requests"`
	CompletionTimeS float64  `json:"completion_time_s"`
}

func usage() {
	fmt.Fprintf(os.Stderr, `usage: qamp-interop-h3client [OPTIONS] URL...
  -out DIR               save bodies as DIR/<n>-<basename> (required)
  -requests N            GET every URL N times (default 1), all on one connection
  -parallel              send the requests concurrently (default: one after another)
  -max-streams-bidi N    initial_max_streams_bidi to announce (default 0: none, quic-go's http3 default)
  -max-streams-uni N     initial_max_streams_uni to announce (default 100)
  -ca-file FILE          trust this PEM certificate (default: no verification)
  -keylog FILE           append TLS secrets (NSS key log format) for tshark
  -timeout DURATION      whole run (default 60s)
  -idle-timeout DURATION QUIC idle timeout (default 30s)
  -local IP              bind the client's UDP socket to IP (port chosen by the kernel)
  -json FILE             write the report here instead of stdout
`)
}

func main() {
	fs := flag.NewFlagSet("qamp-interop-h3client", flag.ContinueOnError)
	fs.Usage = usage
	out := fs.String("out", "", "")
	requests := fs.Int("requests", 1, "")
	parallel := fs.Bool("parallel", false, "")
	bidi := fs.Int64("max-streams-bidi", 0, "")
	uni := fs.Int64("max-streams-uni", 100, "")
	caFile := fs.String("ca-file", "", "")
	keylog := fs.String("keylog", "", "")
	timeout := fs.Duration("timeout", 60*time.Second, "")
	jsonOut := fs.String("json", "", "")
	idle := fs.Duration("idle-timeout", 30*time.Second, "")
	local := fs.String("local", "", "")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *out == "" || fs.NArg() == 0 || *requests < 1 || *requests > 10000 || *bidi < 0 || *uni < 0 ||
		*bidi > 1<<60 || *uni > 1<<60 || *idle <= 0 {
		usage()
		os.Exit(2)
	}
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: -ca-file: %v\n", err)
			os.Exit(1)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(os.Stderr, "error: -ca-file %s: no PEM certificate\n", *caFile)
			os.Exit(1)
		}
		tlsConf = &tls.Config{RootCAs: pool}
	}
	if *keylog != "" {
		f, err := os.OpenFile(*keylog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: -keylog: %v\n", err)
			os.Exit(1)
		}
		defer f.Close()
		tlsConf.KeyLogWriter = f
	}
	var laddr *net.UDPAddr
	if *local != "" {
		ip := net.ParseIP(*local)
		if ip == nil {
			fmt.Fprintf(os.Stderr, "error: -local %q: not an IP address\n", *local)
			usage()
			os.Exit(2)
		}
		laddr = &net.UDPAddr{IP: ip}
	}
	qconf := &quic.Config{MaxIncomingUniStreams: *uni, MaxIdleTimeout: *idle}
	if *bidi == 0 {
		qconf.MaxIncomingStreams = -1 // announce 0, as quic-go's http3 client does by default
	} else {
		qconf.MaxIncomingStreams = *bidi
	}
	var dials atomic.Int64
	rt := &http3.RoundTripper{
		TLSClientConfig: tlsConf,
		QUICConfig:      qconf,
		Dial: func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (quic.EarlyConnection, error) {
			dials.Add(1)
			if laddr == nil {
				return quic.DialAddrEarly(ctx, addr, tc, qc)
			}
			raddr, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			conn, err := net.ListenUDP("udp", laddr)
			if err != nil {
				return nil, err
			}
			return quic.DialEarly(ctx, conn, raddr, tc, qc)
		},
	}
	defer rt.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "error: -out: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var jobs []string
	for i := 0; i < *requests; i++ {
		jobs = append(jobs, fs.Args()...)
	}
	results := make([]result, len(jobs))
	start := time.Now()
	get := func(i int) {
		results[i] = fetch(ctx, rt, jobs[i], filepath.Join(*out, fmt.Sprintf("%d-%s", i, baseName(jobs[i]))))
	}
	if *parallel {
		var wg sync.WaitGroup
		for i := range jobs {
			wg.Add(1)
			go func(i int) { defer wg.Done(); get(i) }(i)
		}
		wg.Wait()
	} else {
		for i := range jobs {
			get(i)
		}
	}
	rep := report{Connections: dials.Load(), MaxStreamsBidi: *bidi, MaxStreamsUni: *uni, Requests: results,
		CompletionTimeS: time.Since(start).Seconds()}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if *jsonOut != "" {
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "error: -json: %v\n", err)
			os.Exit(1)
		}
	} else {
		fmt.Println(string(b))
	}
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(os.Stderr, "error: %s: %s\n", r.URL, r.Error)
			os.Exit(1)
		}
	}
}

func baseName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || path.Base(u.Path) == "/" || path.Base(u.Path) == "." {
		return "index"
	}
	return path.Base(u.Path)
}

func fetch(ctx context.Context, rt http.RoundTripper, raw, file string) result {
	r := result{URL: raw, File: file}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.Status, r.Proto = resp.StatusCode, resp.Proto
	f, err := os.Create(file)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	r.Bytes, r.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	if err != nil {
		r.Error = "body: " + err.Error()
	} else if resp.StatusCode/100 != 2 {
		r.Error = fmt.Sprintf("status %d", resp.StatusCode)
	}
	return r
}
