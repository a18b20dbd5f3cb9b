// traefik-client: fetches a URL the way Traefik's HTTP provider does
// (pkg/provider/http/http.go): an http.Client with a timeout and Go's default
// transport, a plain GET with no body, status 200 required, the body read
// with io.ReadAll. The transport is http.DefaultTransport cloned, with only
// its dialer wrapped to count the bytes that cross the TCP connection, so
// the request's Accept-Encoding and the transparent gzip decoding are the
// ones Traefik gets. Prints one JSON line describing what was received.
//
//	traefik-client -url http://127.0.0.1:PORT/api/dynamic [-timeout 5s]
//
// Standard library only; talks to 127.0.0.1 only.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// countingConn counts the bytes read from and written to the connection.
// The transport reads and writes from its own goroutines, hence the atomics.
type countingConn struct {
	net.Conn
	read    *int64
	written *int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	atomic.AddInt64(c.read, int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	atomic.AddInt64(c.written, int64(n))
	return n, err
}

type result struct {
	Status           int    `json:"status"`
	WireBytesRead    int64  `json:"wire_bytes_read"`
	WireBytesWritten int64  `json:"wire_bytes_written"`
	BodyBytes        int    `json:"body_bytes"`
	Uncompressed     bool   `json:"uncompressed"`
	ContentLength    int64  `json:"content_length"`
	BodySHA256       string `json:"body_sha256"`
	JSONOK           bool   `json:"json_ok"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "traefik-client: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	url := flag.String("url", "", "URL to fetch; must start with http://127.0.0.1:")
	timeout := flag.Duration("timeout", 5*time.Second, "client timeout (Traefik's providers.http.pollTimeout, default 5s)")
	flag.Parse()
	if !strings.HasPrefix(*url, "http://127.0.0.1:") {
		fail("refusing %q: only http://127.0.0.1: URLs are fetched", *url)
	}

	var read, written int64
	transport := http.DefaultTransport.(*http.Transport).Clone()
	dial := transport.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, read: &read, written: &written}, nil
	}
	client := &http.Client{Timeout: *timeout, Transport: transport}

	req, err := http.NewRequest(http.MethodGet, *url, http.NoBody)
	if err != nil {
		fail("building the request: %v", err)
	}
	res, err := client.Do(req)
	if err != nil {
		fail("GET %s: %v", *url, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	transport.CloseIdleConnections()
	if err != nil {
		fail("reading the body of GET %s: %v", *url, err)
	}

	sum := sha256.Sum256(body)
	var parsed interface{}
	out := result{
		Status:           res.StatusCode,
		WireBytesRead:    atomic.LoadInt64(&read),
		WireBytesWritten: atomic.LoadInt64(&written),
		BodyBytes:        len(body),
		Uncompressed:     res.Uncompressed,
		ContentLength:    res.ContentLength,
		BodySHA256:       hex.EncodeToString(sum[:]),
		JSONOK:           json.Unmarshal(body, &parsed) == nil,
	}
	line, err := json.Marshal(out)
	if err != nil {
		fail("encoding the result: %v", err)
	}
	fmt.Println(string(line))
}
