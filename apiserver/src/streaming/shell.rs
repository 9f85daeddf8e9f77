//! The fake container's built-in commands and a tiny `sh -c` interpreter.
//!
//! Contract:
//! - `sh -c SCRIPT` (also `bash`, `ash`, `/bin/sh`): commands separated by `;`, newlines, `&&`
//!   and `||`; words with `'…'`, `"…"`, `\` escapes and `$VAR`, `${VAR}`, `$?` expansion;
//!   redirections `> f`, `>> f`, `< f`, `2> f`, `>&2`, `1>&2`, `2>&1`. No pipes, globs,
//!   subshells or control flow (a script using `|` fails with exit code 2).
//! - Commands: `echo [-n]`, `cat [FILE|-]...`, `env`, `printenv [NAME]`, `sleep SECONDS`,
//!   `exit [N]`, `true`, `false`, `pwd`, `ls [PATH]...`, `mkdir [-p] DIR...`, `rm [-rf] PATH...`,
//!   `test -e|-f|-d PATH` (and `[ … ]`), `head -c N [FILE]`, `stty size` (with a TTY it waits up to 2 s for the client's first size), `hostname`, and
//!   `tar` (`c`/`x`/`t` with `f -`, `-C DIR`, gzip not supported: what `kubectl cp` runs).
//! - Files are the container's [`super::fs::Fs`]. An unknown command is the runtime's failure
//!   to start it (an `InternalError` status: `executable file not found in $PATH`) when run
//!   directly, and exit code 127 inside `sh -c`.
//! - stdin is read in bounded pieces; `tar x` reads at most the file system's capacity.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::exec::{ExecIo, ExecRequest};
use super::fs::{normalize, Entry, FsError, MAX_BYTES};

/// Runs `req.command` (see the module docs).
pub async fn run(req: ExecRequest, mut io: ExecIo) -> Result<i32, String> {
    let mut sh = Shell { env: req.env.clone(), last: 0, hostname: req.pod.clone(), tty: req.tty };
    let argv = req.command.clone();
    let Some(first) = argv.first() else { return Err("no command".into()) };
    let name = first.rsplit('/').next().unwrap_or(first);
    if matches!(name, "sh" | "bash" | "ash" | "dash") {
        if argv.get(1).map(String::as_str) == Some("-c") {
            let script = argv.get(2).cloned().unwrap_or_default();
            return Ok(sh.script(&script, &mut io).await);
        }
        // An interactive shell: run each line of stdin.
        return Ok(sh.interactive(&mut io).await);
    }
    if !is_builtin(name) {
        return Err(format!(
            "failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: {first:?}: executable file not found in $PATH: unknown"
        ));
    }
    let mut p = Proc { io: &mut io, out: Dest::Stdout, err: Dest::Stderr, input: None, files: Vec::new() };
    let code = sh.command(&argv, &mut p).await;
    Ok(code)
}

const BUILTINS: &[&str] = &[
    "echo", "cat", "env", "printenv", "sleep", "exit", "true", "false", "pwd", "ls", "mkdir", "rm", "test", "[",
    "head", "stty", "hostname", "tar",
];

fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Where a command's output goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dest {
    Stdout,
    Stderr,
    /// Buffered into `Proc::files[i]`, written when the command ends.
    File(usize),
}

/// One running command's streams.
struct Proc<'a> {
    io: &'a mut ExecIo,
    out: Dest,
    err: Dest,
    /// stdin from a `< file` redirection.
    input: Option<Vec<u8>>,
    /// `(path, append, content)` of `>` redirections.
    files: Vec<(String, bool, Vec<u8>)>,
}

impl Proc<'_> {
    async fn write(&mut self, dest: Dest, data: &[u8]) -> io::Result<()> {
        match dest {
            Dest::Stdout => self.io.stdout.write_all(data).await,
            Dest::Stderr => self.io.stderr.write_all(data).await,
            Dest::File(i) => {
                if let Some(f) = self.files.get_mut(i) {
                    if f.2.len() + data.len() > MAX_BYTES {
                        return Err(io::Error::other("No space left on device"));
                    }
                    f.2.extend_from_slice(data);
                }
                Ok(())
            }
        }
    }
    async fn out(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(self.out, data).await
    }
    async fn err(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(self.err, data).await
    }

    /// All of stdin (bounded by `limit`), or `None` when it is larger.
    async fn read_all(&mut self, limit: usize) -> Option<Vec<u8>> {
        if let Some(i) = self.input.take() {
            return Some(i);
        }
        let mut buf = Vec::new();
        let mut limited = (&mut self.io.stdin).take(limit as u64 + 1);
        limited.read_to_end(&mut buf).await.ok()?;
        (buf.len() <= limit).then_some(buf)
    }

    /// Copies stdin to stdout in bounded pieces.
    async fn copy_stdin(&mut self) -> io::Result<()> {
        if let Some(i) = self.input.take() {
            return self.out(&i).await;
        }
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = self.io.stdin.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            self.out(&buf[..n]).await?;
        }
    }
}

struct Shell {
    env: Vec<(String, String)>,
    last: i32,
    hostname: String,
    tty: bool,
}

/// How long `stty size` waits for the client's first terminal size.
const FIRST_SIZE_WAIT: Duration = Duration::from_secs(2);

/// A word: literal text and variables, expanded when the command runs.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Vec<Seg>),
    /// `;`, newline, `&&`, `||`, `|`, `>`, `>>`, `<`, `2>`, `2>>`, `>&2`, `2>&1`.
    Op(&'static str),
}

/// Splits a script into tokens; `Err` on an unterminated quote.
fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut cur: Vec<Seg> = Vec::new();
    let mut lit = String::new();
    let mut in_word = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    fn flush(lit: &mut String, cur: &mut Vec<Seg>) {
        if !lit.is_empty() {
            cur.push(Seg::Lit(std::mem::take(lit)));
        }
    }
    fn end_word(lit: &mut String, cur: &mut Vec<Seg>, in_word: &mut bool, toks: &mut Vec<Tok>) {
        flush(lit, cur);
        if *in_word {
            toks.push(Tok::Word(std::mem::take(cur)));
        }
        *in_word = false;
    }
    let var = |i: &mut usize, out: &mut Vec<Seg>, lit: &mut String| {
        // chars[*i] == '$'
        let rest = &chars[*i + 1..];
        if rest.first() == Some(&'?') {
            flush(lit, out);
            out.push(Seg::Var("?".into()));
            *i += 2;
        } else if rest.first() == Some(&'{') {
            let end = rest.iter().position(|c| *c == '}');
            if let Some(end) = end {
                flush(lit, out);
                out.push(Seg::Var(rest[1..end].iter().collect()));
                *i += end + 2;
            } else {
                lit.push('$');
                *i += 1;
            }
        } else {
            let n = rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').count();
            if n == 0 {
                lit.push('$');
                *i += 1;
            } else {
                flush(lit, out);
                out.push(Seg::Var(rest[..n].iter().collect()));
                *i += n + 1;
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' => {
                end_word(&mut lit, &mut cur, &mut in_word, &mut toks);
                i += 1;
            }
            '\n' | ';' => {
                end_word(&mut lit, &mut cur, &mut in_word, &mut toks);
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '&' | '|' => {
                end_word(&mut lit, &mut cur, &mut in_word, &mut toks);
                match (c, next) {
                    ('&', Some('&')) => toks.push(Tok::Op("&&")),
                    ('|', Some('|')) => toks.push(Tok::Op("||")),
                    ('|', _) => {
                        toks.push(Tok::Op("|"));
                        i += 1;
                        continue;
                    }
                    _ => return Err("background jobs (&) are not supported".into()),
                }
                i += 2;
            }
            '>' | '<' => {
                // `2>` / `1>` directly before: the word so far is the fd.
                let fd = if in_word && cur.is_empty() && (lit == "2" || lit == "1") {
                    let fd = std::mem::take(&mut lit);
                    in_word = false;
                    fd
                } else {
                    end_word(&mut lit, &mut cur, &mut in_word, &mut toks);
                    String::new()
                };
                let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
                let (op, len) = match (fd.as_str(), c) {
                    (_, '<') => ("<", 1),
                    ("2", _) if rest.starts_with(">&1") => ("2>&1", 3),
                    ("2", _) if rest.starts_with(">>") => ("2>>", 2),
                    ("2", _) => ("2>", 1),
                    (_, _) if rest.starts_with(">&2") => (">&2", 3),
                    (_, _) if rest.starts_with(">>") => (">>", 2),
                    _ => (">", 1),
                };
                toks.push(Tok::Op(op));
                i += len;
            }
            '\'' => {
                in_word = true;
                let end = chars[i + 1..].iter().position(|c| *c == '\'').ok_or("unterminated quoted string")?;
                lit.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$')) => {
                            lit.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => var(&mut i, &mut cur, &mut lit),
                        Some(ch) => {
                            lit.push(*ch);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = next {
                    if n != '\n' {
                        lit.push(n);
                    }
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                var(&mut i, &mut cur, &mut lit);
            }
            c => {
                in_word = true;
                lit.push(c);
                i += 1;
            }
        }
    }
    end_word(&mut lit, &mut cur, &mut in_word, &mut toks);
    Ok(toks)
}

impl Shell {
    fn var(&self, name: &str) -> String {
        if name == "?" {
            return self.last.to_string();
        }
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn expand(&self, w: &[Seg]) -> String {
        w.iter()
            .map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Var(v) => self.var(v),
            })
            .collect()
    }

    /// Runs each line of stdin as a script until EOF or `exit`.
    async fn interactive(&mut self, io: &mut ExecIo) -> i32 {
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match io.stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return self.last,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n' || *b == b'\r') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                if let Some(code) = self.run_script(&line, io).await {
                    return code;
                }
            }
            if pending.len() > 64 * 1024 {
                pending.clear();
            }
        }
    }

    /// Runs a whole script; its exit status.
    async fn script(&mut self, script: &str, io: &mut ExecIo) -> i32 {
        match self.run_script(script, io).await {
            Some(code) => code,
            None => self.last,
        }
    }

    /// Runs `script`; `Some(code)` when it called `exit`.
    async fn run_script(&mut self, script: &str, io: &mut ExecIo) -> Option<i32> {
        let toks = match tokenize(script) {
            Ok(t) => t,
            Err(e) => {
                let _ = io.stderr.write_all(format!("sh: syntax error: {e}\n").as_bytes()).await;
                self.last = 2;
                return Some(2);
            }
        };
        if toks.contains(&Tok::Op("|")) {
            let _ = io.stderr.write_all(b"sh: pipes are not supported by this container\n").await;
            self.last = 2;
            return Some(2);
        }
        // Split into (connector, command tokens).
        let mut cmds: Vec<(&'static str, Vec<Tok>)> = Vec::new();
        let mut connector = ";";
        let mut cur = Vec::new();
        for t in toks {
            match t {
                Tok::Op(op @ (";" | "&&" | "||")) => {
                    cmds.push((connector, std::mem::take(&mut cur)));
                    connector = op;
                }
                t => cur.push(t),
            }
        }
        cmds.push((connector, cur));
        for (connector, toks) in cmds {
            if toks.is_empty() {
                continue;
            }
            match connector {
                "&&" if self.last != 0 => continue,
                "||" if self.last == 0 => continue,
                _ => {}
            }
            let mut argv = Vec::new();
            let mut p = Proc { io, out: Dest::Stdout, err: Dest::Stderr, input: None, files: Vec::new() };
            let mut it = toks.into_iter();
            let mut failed = None;
            while let Some(t) = it.next() {
                match t {
                    Tok::Word(w) => argv.push(self.expand(&w)),
                    Tok::Op(">&2") => p.out = p.err,
                    Tok::Op("2>&1") => p.err = p.out,
                    Tok::Op(op) => {
                        let Some(Tok::Word(w)) = it.next() else {
                            failed = Some(format!("sh: syntax error: {op} needs a file\n"));
                            break;
                        };
                        let path = self.expand(&w);
                        match op {
                            "<" => match p.io.fs.lock().read(&path) {
                                Ok(d) => p.input = Some(d.to_vec()),
                                Err(e) => failed = Some(format!("sh: can't open {path}: {e}\n")),
                            },
                            _ => {
                                let append = op.ends_with(">>");
                                p.files.push((path, append, Vec::new()));
                                let d = Dest::File(p.files.len() - 1);
                                if op.starts_with('2') {
                                    p.err = d;
                                } else {
                                    p.out = d;
                                }
                            }
                        }
                    }
                }
            }
            if let Some(msg) = failed {
                let _ = p.io.stderr.write_all(msg.as_bytes()).await;
                self.last = 2;
                continue;
            }
            if argv.first().map(String::as_str) == Some("exit") {
                let code = argv.get(1).and_then(|c| c.parse::<i32>().ok()).unwrap_or(self.last);
                return Some(code & 0xff);
            }
            let code = if argv.first().is_some_and(|n| is_builtin(n.rsplit('/').next().unwrap_or(n))) {
                self.command(&argv, &mut p).await
            } else {
                let _ =
                    p.err(format!("sh: {}: not found\n", argv.first().cloned().unwrap_or_default()).as_bytes()).await;
                127
            };
            let files = std::mem::take(&mut p.files);
            for (path, append, data) in files {
                let r = {
                    let mut fs = p.io.fs.lock();
                    if append {
                        fs.append(&path, &data)
                    } else {
                        fs.write(&path, data, 0o644)
                    }
                };
                if let Err(e) = r {
                    let _ = p.io.stderr.write_all(format!("sh: can't create {path}: {e}\n").as_bytes()).await;
                }
            }
            self.last = code;
        }
        None
    }

    /// Runs one built-in; its exit code.
    async fn command(&mut self, argv: &[String], p: &mut Proc<'_>) -> i32 {
        let name = argv.first().map(|n| n.rsplit('/').next().unwrap_or(n)).unwrap_or_default();
        let args: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
        let r: io::Result<i32> = async {
            Ok(match name {
                "echo" => {
                    let (newline, words) = match args.first() {
                        Some(&"-n") => (false, &args[1..]),
                        _ => (true, &args[..]),
                    };
                    let mut s = words.join(" ");
                    if newline {
                        s.push('\n');
                    }
                    p.out(s.as_bytes()).await?;
                    0
                }
                "cat" => {
                    let mut code = 0;
                    if args.is_empty() {
                        p.copy_stdin().await?;
                    }
                    for a in &args {
                        if *a == "-" {
                            p.copy_stdin().await?;
                            continue;
                        }
                        let data = p.io.fs.lock().read(a).map(|d| d.to_vec());
                        match data {
                            Ok(d) => p.out(&d).await?,
                            Err(e) => {
                                p.err(format!("cat: {a}: {e}\n").as_bytes()).await?;
                                code = 1;
                            }
                        }
                    }
                    code
                }
                "env" => {
                    let mut s = String::new();
                    for (k, v) in &self.env {
                        s.push_str(&format!("{k}={v}\n"));
                    }
                    p.out(s.as_bytes()).await?;
                    0
                }
                "printenv" => match args.first() {
                    None => {
                        let s: String = self.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                        p.out(s.as_bytes()).await?;
                        0
                    }
                    Some(n) => match self.env.iter().rev().find(|(k, _)| k == n) {
                        Some((_, v)) => {
                            p.out(format!("{v}\n").as_bytes()).await?;
                            0
                        }
                        None => 1,
                    },
                },
                "sleep" => match args.first().and_then(|s| s.trim_end_matches('s').parse::<f64>().ok()) {
                    Some(secs) if secs.is_finite() && secs >= 0.0 => {
                        tokio::time::sleep(Duration::from_secs_f64(secs.min(1e9))).await;
                        0
                    }
                    _ => {
                        p.err(b"sleep: invalid time interval\n").await?;
                        1
                    }
                },
                "exit" => args.first().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0) & 0xff,
                "true" => 0,
                "false" => 1,
                "pwd" => {
                    p.out(b"/\n").await?;
                    0
                }
                "hostname" => {
                    p.out(format!("{}\n", self.hostname).as_bytes()).await?;
                    0
                }
                "ls" => {
                    let paths: Vec<&str> = args.iter().copied().filter(|a| !a.starts_with('-')).collect();
                    let paths = if paths.is_empty() { vec!["/"] } else { paths };
                    let mut code = 0;
                    for path in paths {
                        let listed = p.io.fs.lock().list(path);
                        match listed {
                            Ok(names) => {
                                let s: String = names.iter().map(|n| format!("{n}\n")).collect();
                                p.out(s.as_bytes()).await?;
                            }
                            Err(e) => {
                                p.err(format!("ls: {path}: {e}\n").as_bytes()).await?;
                                code = 1;
                            }
                        }
                    }
                    code
                }
                "mkdir" => {
                    let mut code = 0;
                    for a in args.iter().filter(|a| !a.starts_with('-')) {
                        let r = p.io.fs.lock().mkdir_all(a);
                        if let Err(e) = r {
                            p.err(format!("mkdir: can't create directory '{a}': {e}\n").as_bytes()).await?;
                            code = 1;
                        }
                    }
                    code
                }
                "rm" => {
                    let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
                    let mut code = 0;
                    for a in args.iter().filter(|a| !a.starts_with('-')) {
                        let exists = p.io.fs.lock().get(a).is_some();
                        if exists {
                            p.io.fs.lock().remove_all(a);
                        } else if !force {
                            p.err(format!("rm: can't remove '{a}': No such file or directory\n").as_bytes()).await?;
                            code = 1;
                        }
                    }
                    code
                }
                "test" | "[" => {
                    let args: Vec<&str> = args.iter().copied().filter(|a| *a != "]").collect();
                    let fs = p.io.fs.lock();
                    let ok = match args.as_slice() {
                        ["-e", path] => fs.get(path).is_some(),
                        ["-d", path] => fs.is_dir(path),
                        ["-f", path] => matches!(fs.get(path), Some(Entry::File { .. })),
                        ["-n", s] => !s.is_empty(),
                        ["-z", s] => s.is_empty(),
                        [a, "=", b] => a == b,
                        [a, "!=", b] => a != b,
                        [s] => !s.is_empty(),
                        _ => false,
                    };
                    i32::from(!ok)
                }
                "head" => {
                    let n = match args.as_slice() {
                        ["-c", n, ..] => n.parse::<usize>().ok(),
                        _ => None,
                    };
                    let Some(n) = n else {
                        p.err(b"head: only -c N is supported\n").await?;
                        return Ok(1);
                    };
                    match args.get(2).copied() {
                        Some("/dev/zero") => {
                            let chunk = vec![0u8; 32 * 1024];
                            let mut left = n;
                            while left > 0 {
                                let k = left.min(chunk.len());
                                p.out(&chunk[..k]).await?;
                                left -= k;
                            }
                        }
                        Some(path) => {
                            let data = p.io.fs.lock().read(path).map(|d| d[..n.min(d.len())].to_vec());
                            match data {
                                Ok(d) => p.out(&d).await?,
                                Err(e) => {
                                    p.err(format!("head: {path}: {e}\n").as_bytes()).await?;
                                    return Ok(1);
                                }
                            }
                        }
                        None => {
                            let data = p.read_all(n.min(MAX_BYTES)).await.unwrap_or_default();
                            p.out(&data[..n.min(data.len())]).await?;
                        }
                    }
                    0
                }
                "stty" => {
                    if self.tty {
                        let mut sizes = p.io.terminal_size.clone();
                        let _ = tokio::time::timeout(FIRST_SIZE_WAIT, sizes.wait_for(Option::is_some)).await;
                    }
                    let size = *p.io.terminal_size.borrow();
                    match (args.as_slice(), size) {
                        (["size"], Some(s)) => {
                            p.out(format!("{} {}\n", s.height, s.width).as_bytes()).await?;
                            0
                        }
                        _ => {
                            p.err(b"stty: standard input: Not a tty\n").await?;
                            1
                        }
                    }
                }
                "tar" => tar(&args, p).await?,
                _ => 127,
            })
        }
        .await;
        r.unwrap_or(1)
    }
}

/// `tar` (see the module docs): `c` writes an archive of the paths to stdout, `x` extracts
/// stdin, `t` lists it.
async fn tar(args: &[&str], p: &mut Proc<'_>) -> io::Result<i32> {
    let mut mode = None;
    let mut dir = "/".to_string();
    let mut paths = Vec::new();
    let mut it = args.iter().copied().enumerate();
    while let Some((i, a)) = it.next() {
        if a.starts_with("--") {
            continue;
        }
        if a == "-C" {
            if let Some((_, d)) = it.next() {
                dir = normalize(d);
            }
            continue;
        }
        // The first argument is a bundle of letters with or without `-`.
        if i == 0 || a.starts_with('-') {
            let letters = a.trim_start_matches('-');
            let mut wants_file = false;
            for l in letters.chars() {
                match l {
                    'c' | 'x' | 't' => mode = Some(l),
                    'f' => wants_file = true,
                    'z' | 'j' | 'J' => {
                        p.err(b"tar: compression is not supported by this container\n").await?;
                        return Ok(2);
                    }
                    _ => {}
                }
            }
            if wants_file {
                match it.next() {
                    Some((_, "-")) => {}
                    _ => {
                        p.err(b"tar: only the archive \"-\" (stdin/stdout) is supported\n").await?;
                        return Ok(2);
                    }
                }
            }
            continue;
        }
        paths.push(a);
    }
    match mode {
        Some('c') => {
            let mut b = ::tar::Builder::new(Vec::new());
            let mut code = 0;
            for path in paths {
                let full = if path.starts_with('/') { normalize(path) } else { normalize(&format!("{dir}/{path}")) };
                let entries = p.io.fs.lock().walk(&full);
                if entries.is_empty() {
                    p.err(format!("tar: {path}: Cannot stat: No such file or directory\n").as_bytes()).await?;
                    code = 2;
                    continue;
                }
                // GNU tar: names relative to -C, leading `/` removed.
                let base = if path.starts_with('/') { "/".to_string() } else { dir.clone() };
                for (name, entry) in entries {
                    let rel = name.strip_prefix(&base).unwrap_or(&name).trim_start_matches('/').to_string();
                    let mut h = ::tar::Header::new_gnu();
                    h.set_mtime(0);
                    let r = match &entry {
                        Entry::Dir => {
                            h.set_entry_type(::tar::EntryType::Directory);
                            h.set_mode(0o755);
                            h.set_size(0);
                            b.append_data(&mut h, format!("{rel}/"), io::empty())
                        }
                        Entry::File { data, mode } => {
                            h.set_entry_type(::tar::EntryType::Regular);
                            h.set_mode(*mode);
                            h.set_size(data.len() as u64);
                            b.append_data(&mut h, &rel, data.as_slice())
                        }
                    };
                    if let Err(e) = r {
                        p.err(format!("tar: {rel}: {e}\n").as_bytes()).await?;
                        code = 2;
                    }
                }
            }
            let archive = b.into_inner()?;
            p.out(&archive).await?;
            Ok(code)
        }
        Some(m @ ('x' | 't')) => {
            let Some(data) = p.read_all(MAX_BYTES + (4 << 20)).await else {
                p.err(b"tar: archive too large for this container\n").await?;
                return Ok(2);
            };
            let (listing, writes) = match read_archive(&data) {
                Ok(r) => r,
                Err(e) => {
                    p.err(format!("tar: {e}\n").as_bytes()).await?;
                    return Ok(2);
                }
            };
            if m == 't' {
                p.out(listing.as_bytes()).await?;
                return Ok(0);
            }
            let mut errors = Vec::new();
            {
                let mut fs = p.io.fs.lock();
                for (name, content, mode) in writes {
                    let target = normalize(&format!("{dir}/{name}"));
                    let r = match content {
                        None => fs.mkdir_all(&target),
                        Some(c) => fs.write(&target, c, mode),
                    };
                    if let Err(e) = r {
                        errors.push(format!("tar: {target}: Cannot open: {e}\n"));
                        if e == FsError::NoSpace {
                            break;
                        }
                    }
                }
            }
            for e in &errors {
                p.err(e.as_bytes()).await?;
            }
            Ok(if errors.is_empty() { 0 } else { 2 })
        }
        _ => {
            p.err(b"tar: You must specify one of the '-Acdtrux' options\n").await?;
            Ok(2)
        }
    }
}

/// What extracting an archive writes: `(path, Some(content) for a file, mode)`.
type Writes = Vec<(String, Option<Vec<u8>>, u32)>;

/// The listing of `data` (a tar archive) and its directories and regular files, paths relative
/// to the archive root.
fn read_archive(data: &[u8]) -> io::Result<(String, Writes)> {
    let mut archive = ::tar::Archive::new(data);
    let mut listing = String::new();
    let mut writes = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        listing.push_str(&format!("{name}\n"));
        let mode = entry.header().mode().unwrap_or(0o644);
        match entry.header().entry_type() {
            ::tar::EntryType::Directory => writes.push((name, None, mode)),
            ::tar::EntryType::Regular | ::tar::EntryType::Continuous => {
                let mut content = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut content)?;
                writes.push((name, Some(content), mode));
            }
            _ => {}
        }
    }
    Ok((listing, writes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap()
    }

    #[test]
    fn tokenizer_handles_quotes_vars_and_redirections() {
        let t = words(r#"echo "a b" 'c $d' $E >&2; cat < /f 2>&1 && x"#);
        assert_eq!(t[1], Tok::Word(vec![Seg::Lit("a b".into())]));
        assert_eq!(t[2], Tok::Word(vec![Seg::Lit("c $d".into())]));
        assert_eq!(t[3], Tok::Word(vec![Seg::Var("E".into())]));
        assert_eq!(t[4], Tok::Op(">&2"));
        assert!(t.contains(&Tok::Op("<")) && t.contains(&Tok::Op("2>&1")) && t.contains(&Tok::Op("&&")));
        assert!(tokenize("echo 'open").is_err());
    }
}
