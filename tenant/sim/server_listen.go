package sim

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// The sim listens once and serves both plain HTTP (Graph, for clients given an http
// URL) and TLS (the authority: MSAL refuses a non-https authority) on the same port,
// telling them apart by the first byte a client sends (0x16 opens a TLS handshake).

// Info is what a client needs to reach a running sim; `lifeline sim serve` prints it.
type Info struct {
	// GraphURL is the Graph base ("http://127.0.0.1:PORT/v1.0").
	GraphURL string `json:"graph_url"`
	// TokenURL is the authority's token endpoint ("https://127.0.0.1:PORT/{tenantId}/oauth2/v2.0/token").
	TokenURL string `json:"token_url"`
	// TenantID is the simulated tenant's id.
	TenantID string `json:"tenant_id"`
	// ClientID and ClientSecret are the operator application's credentials.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// Server is a running sim.
type Server struct {
	sim  *Sim
	http *http.Server
	ln   *muxListener
	info Info
	done chan struct{}
	once sync.Once
	err  error
}

// listenError says in a few words why addr cannot be listened on: the operating system's
// reason, without the chain of calls that carried it.
func listenError(addr string, err error) error {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return fmt.Errorf("%s: %v", addr, sys.Err)
	}
	return fmt.Errorf("%s: %v", addr, err)
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves the sim over
// HTTP and HTTPS on that one port.
func (s *Sim) Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenError(addr, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{s.tls.cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	ml := newMuxListener(ln, cfg)
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	tid := s.tenantID()
	srv := &Server{
		sim:  s,
		http: &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: nil},
		ln:   ml,
		done: make(chan struct{}),
		info: Info{
			GraphURL: "http://" + hostPort + "/v1.0", TokenURL: "https://" + hostPort + "/" + tid + "/oauth2/v2.0/token",
			TenantID: tid, ClientID: OperatorClientID, ClientSecret: OperatorClientSecret,
		},
	}
	go func() {
		defer close(srv.done)
		if err := srv.http.Serve(ml); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sim server stopped", "err", err)
		}
	}()
	s.log.Info("simulated tenant listening", "graph_url", srv.info.GraphURL, "token_url", srv.info.TokenURL)
	return srv, nil
}

// Info returns the running sim's endpoints and operator credentials.
func (srv *Server) Info() Info { return srv.info }

// Close shuts the server down gracefully and saves the directory when the sim has a
// StateDir.
func (srv *Server) Close() error {
	srv.once.Do(func() {
		ctx, cancel := shutdownContext()
		defer cancel()
		err := srv.http.Shutdown(ctx)
		<-srv.done
		if srv.sim.opts.StateDir != "" {
			if serr := srv.sim.SaveState(srv.sim.opts.StateDir); serr != nil && err == nil {
				err = serr
			}
		}
		srv.err = err
	})
	return srv.err
}

// muxListener hands the HTTP server plain connections and TLS connections from one
// TCP listener.
type muxListener struct {
	net.Listener
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newMuxListener(ln net.Listener, cfg *tls.Config) *muxListener {
	m := &muxListener{Listener: ln, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go m.loop()
	return m
}

func (m *muxListener) loop() {
	for {
		c, err := m.Listener.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.Close()
			return
		}
		go m.classify(c)
	}
}

// classify peeks at a connection's first byte, off the accept loop so that a slow
// client cannot hold up others.
func (m *muxListener) classify(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	var conn net.Conn = &peekedConn{Conn: c, r: br}
	if first[0] == 0x16 {
		conn = tls.Server(conn, m.cfg)
	}
	select {
	case m.conns <- conn:
	case <-m.done:
		_ = c.Close()
	}
}

// Accept returns the next classified connection.
func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (m *muxListener) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.Listener.Close()
	})
	return err
}

// peekedConn replays the bytes the classifier peeked.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// tlsMaterial is the sim's self-signed certificate, published at /_sim/ca.pem so that
// lifeline's client can pin it for loopback authorities.
type tlsMaterial struct {
	cert    tls.Certificate
	certPEM []byte
	keyPEM  []byte
}

func newTLSMaterial() (*tlsMaterial, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, errorf("generating the TLS key: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "lifeline simulated tenant", Organization: []string{"lifeline"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, errorf("creating the TLS certificate: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, errorf("encoding the TLS key: %v", err)
	}
	return tlsFromPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func tlsFromPEM(certPEM, keyPEM []byte) (*tlsMaterial, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, errorf("loading the TLS certificate: %v", err)
	}
	return &tlsMaterial{cert: cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}
