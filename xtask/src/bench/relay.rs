//! `xtask relay LISTEN UPSTREAM`: the benchmark's floor, a plain TCP byte relay. Each
//! accepted connection gets its own connection to UPSTREAM and two blocking threads, one
//! per direction, that copy bytes until EOF and pass the half-close on. No TLS, no HTTP:
//! what it adds is the cost of any userspace proxy hop on the machine (two more loopback
//! TCP legs, two more process wake-ups per round trip). The benchmark runs it by
//! re-executing itself, so nothing else has to be built.
use std::{
    io,
    net::{Shutdown, TcpListener, TcpStream},
    thread,
};

const USAGE: &str = "usage: xtask relay LISTEN_ADDR UPSTREAM_ADDR";

/// The hidden `relay` chore: binds LISTEN, then relays every connection to UPSTREAM until
/// killed.
pub fn main(args: &[String]) -> Result<(), String> {
    let [listen, upstream] = args else { return Err(USAGE.to_owned()) };
    let listener = TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    eprintln!("relay: listening on {listen}, relaying to {upstream}");
    serve(&listener, upstream)
}

/// Accepts connections forever, each relayed on its own threads.
pub fn serve(listener: &TcpListener, upstream: &str) -> Result<(), String> {
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) => {
                eprintln!("relay: accept: {e}");
                continue;
            }
        };
        let upstream = upstream.to_owned();
        thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                if let Err(e) = relay(client, &upstream) {
                    eprintln!("relay: {upstream}: {e}");
                }
            })
            .map_err(|e| format!("cannot start a relay thread: {e}"))?;
    }
}

/// Connects `client` to `upstream` and copies both ways until both directions end: this
/// thread carries upstream → client, a second one client → upstream.
fn relay(client: TcpStream, upstream: &str) -> io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_reader, server_writer) = (client.try_clone()?, server.try_clone()?);
    let up = thread::Builder::new().name("relay-up".into()).spawn(move || pipe(client_reader, server_writer))?;
    pipe(server, client);
    let _ = up.join();
    Ok(())
}

/// Copies `from` into `to` until EOF, then half-closes `to`. On an error (a reset) it
/// closes `to` both ways instead, which also ends the other direction's read.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let how = match io::copy(&mut from, &mut to) {
        Ok(_) => Shutdown::Write,
        Err(_) => Shutdown::Both,
    };
    let _ = to.shutdown(how);
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{TcpListener, TcpStream},
        thread,
    };

    /// Bytes go through both ways, and the client's half-close reaches the upstream, whose
    /// close reaches the client.
    #[test]
    fn relays_both_ways_and_passes_half_closes_on() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap().to_string();
        // An echo server that answers only once the client has finished sending.
        thread::spawn(move || {
            let (mut conn, _) = upstream.accept().unwrap();
            let mut got = Vec::new();
            conn.read_to_end(&mut got).unwrap();
            conn.write_all(b"echo: ").unwrap();
            conn.write_all(&got).unwrap();
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay_addr = listener.local_addr().unwrap();
        thread::spawn(move || super::serve(&listener, &upstream_addr));

        let mut client = TcpStream::connect(relay_addr).unwrap();
        let request = vec![7u8; 100_000];
        client.write_all(&request).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert_eq!(&answer[..6], b"echo: ");
        assert_eq!(answer[6..], request[..]);
    }

    #[test]
    fn needs_two_addresses() {
        assert!(super::main(&["127.0.0.1:0".to_owned()]).is_err());
    }
}
