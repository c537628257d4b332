//! The loader of traces in the Azure Functions 2019 format (see the parent module).

use std::collections::HashMap;
use std::path::Path;

use super::*;

/// Loads minutes `minutes` (0-based, half-open: `0..1440` is the whole day) of the trace in `dir`.
///
/// See the [module docs](super) for the files, the checks and how counts become calls. An empty
/// range, or one reaching past the trace's last minute column, is an error.
pub fn load_trace(
    dir: &Path,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
) -> Result<Workload, WorkloadError> {
    let source = dir.display().to_string();
    check_range(&source, &minutes)?;
    let inv_path = find_file(dir, "inv.csv")?;
    let run_path = find_file(dir, "run.csv")?;
    let mem_path = find_file(dir, "mem.csv")?;
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| {
            error(
                &path.display().to_string(),
                0,
                0,
                format!("cannot read: {e}"),
            )
        })
    };
    let (inv, run, mem) = (read(&inv_path)?, read(&run_path)?, read(&mem_path)?);
    parse_trace(
        TraceFile {
            name: inv_path.display().to_string(),
            bytes: &inv,
        },
        TraceFile {
            name: run_path.display().to_string(),
            bytes: &run,
        },
        TraceFile {
            name: mem_path.display().to_string(),
            bytes: &mem,
        },
        minutes,
        arrivals,
        seed,
        source,
    )
}

pub(super) fn check_range(what: &str, minutes: &Range<u32>) -> Result<(), WorkloadError> {
    if minutes.start >= minutes.end {
        return Err(error(
            what,
            0,
            0,
            format!("empty minute range {}..{}", minutes.start, minutes.end),
        ));
    }
    Ok(())
}

/// The one regular file in `dir` whose name ends with `suffix`.
pub(super) fn find_file(dir: &Path, suffix: &str) -> Result<std::path::PathBuf, WorkloadError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| error(&shown, 0, 0, format!("cannot list directory: {e}")))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| error(&shown, 0, 0, format!("cannot list directory: {e}")))?;
        let path = entry.path();
        let matches = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(suffix));
        if matches && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        1 => Ok(found.pop().expect("one element")),
        0 => Err(error(
            &shown,
            0,
            0,
            format!("no file whose name ends with `{suffix}`"),
        )),
        _ => {
            let names: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
            Err(error(
                &shown,
                0,
                0,
                format!(
                    "{} files end with `{suffix}`, expected one: {}",
                    found.len(),
                    names.join(", ")
                ),
            ))
        }
    }
}

/// A trace file's name (for errors) and contents.
pub(crate) struct TraceFile<'a> {
    pub(crate) name: String,
    pub(crate) bytes: &'a [u8],
}

/// The file's text, without a byte-order mark; invalid UTF-8 is an error at its line and field.
pub(super) fn decode<'a>(file: &TraceFile<'a>) -> Result<&'a str, WorkloadError> {
    let bytes = file
        .bytes
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(file.bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = good[line_start..].iter().filter(|&&b| b == b',').count() + 1;
        error(&file.name, line, column, "invalid UTF-8")
    })
}

/// Non-blank lines with their 1-based numbers, a trailing `\r` removed.
pub(super) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// A parsed header line.
pub(super) struct Header<'a> {
    file: &'a str,
    /// Its 1-based line number (blank lines may precede it).
    line: usize,
    names: Vec<&'a str>,
}

impl<'a> Header<'a> {
    /// Reads the first non-blank line of `text`; an empty file is an error.
    fn read(
        file: &'a str,
        lines: &mut impl Iterator<Item = (usize, &'a str)>,
    ) -> Result<Self, WorkloadError> {
        let Some((line_no, line)) = lines.next() else {
            return Err(error(file, 1, 1, "empty file: no header line"));
        };
        Ok(Self {
            file,
            line: line_no,
            names: line.split(',').map(str::trim).collect(),
        })
    }

    /// 0-based index of the column called `name`; missing or repeated is an error.
    fn column(&self, name: &str) -> Result<usize, WorkloadError> {
        let mut hits = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == name)
            .map(|(i, _)| i);
        let first = hits.next().ok_or_else(|| {
            error(
                self.file,
                self.line,
                1,
                format!("header has no `{name}` column"),
            )
        })?;
        if let Some(again) = hits.next() {
            return Err(error(
                self.file,
                self.line,
                again + 1,
                format!("header repeats column `{name}`"),
            ));
        }
        Ok(first)
    }
}

/// Splits `line` into `fields`, checking the count against the header's.
pub(super) fn split_row<'a>(
    file: &str,
    line_no: usize,
    line: &'a str,
    expected: usize,
    fields: &mut Vec<&'a str>,
) -> Result<(), WorkloadError> {
    fields.clear();
    fields.extend(line.split(',').map(str::trim));
    if fields.len() != expected {
        return Err(error(
            file,
            line_no,
            fields.len().min(expected) + 1,
            format!(
                "expected {expected} fields as in the header, found {}",
                fields.len()
            ),
        ));
    }
    Ok(())
}

/// A whole, non-negative number (`3` or `3.0`).
pub(super) fn parse_count(
    file: &str,
    line: usize,
    column: usize,
    field: &str,
) -> Result<u64, WorkloadError> {
    if let Ok(v) = field.parse::<u64>() {
        return Ok(v);
    }
    let v = parse_number(file, line, column, field)?;
    if v.fract() != 0.0 || v > 9.0e15 {
        return Err(error(
            file,
            line,
            column,
            format!("count `{field}` is not a whole number"),
        ));
    }
    Ok(v as u64)
}

/// A finite, non-negative number.
pub(super) fn parse_number(
    file: &str,
    line: usize,
    column: usize,
    field: &str,
) -> Result<f64, WorkloadError> {
    if field.is_empty() {
        return Err(error(file, line, column, "empty field, expected a number"));
    }
    match field.parse::<f64>() {
        Ok(v) if !v.is_finite() => Err(error(
            file,
            line,
            column,
            format!("`{field}` is not a finite number"),
        )),
        Ok(v) if v < 0.0 => Err(error(
            file,
            line,
            column,
            format!("negative value `{field}`"),
        )),
        Ok(v) => Ok(v),
        Err(_) => Err(error(
            file,
            line,
            column,
            format!("`{field}` is not a number"),
        )),
    }
}

/// A non-empty name field.
pub(super) fn parse_name<'a>(
    file: &str,
    line: usize,
    column: usize,
    what: &str,
    field: &'a str,
) -> Result<&'a str, WorkloadError> {
    if field.is_empty() {
        return Err(error(file, line, column, format!("empty {what}")));
    }
    Ok(field)
}

/// `run.csv`: function name → (line, percentiles).
pub(super) fn parse_run<'a>(
    file: &'a str,
    text: &'a str,
) -> Result<HashMap<&'a str, Percentiles>, WorkloadError> {
    let mut it = lines(text);
    let header = Header::read(file, &mut it)?;
    let name_col = header.column("HashFunction")?;
    let mut pct_cols = [0; 7];
    for (slot, name) in pct_cols.iter_mut().zip(PCT_COLUMNS) {
        *slot = header.column(name)?;
    }
    let mut seen: HashMap<&str, (usize, Percentiles)> = HashMap::new();
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let name = parse_name(
            file,
            line_no,
            name_col + 1,
            "HashFunction",
            fields[name_col],
        )?;
        let mut p = [0.0; 7];
        for (k, &col) in pct_cols.iter().enumerate() {
            p[k] = parse_number(file, line_no, col + 1, fields[col])?;
            if k > 0 && p[k] < p[k - 1] {
                return Err(error(
                    file,
                    line_no,
                    col + 1,
                    format!(
                        "{} ({}) is below {} ({})",
                        PCT_COLUMNS[k],
                        p[k],
                        PCT_COLUMNS[k - 1],
                        p[k - 1]
                    ),
                ));
            }
        }
        if let Some((first, _)) = seen.insert(name, (line_no, p)) {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("duplicate function `{name}` (first on line {first})"),
            ));
        }
    }
    Ok(seen.into_iter().map(|(k, (_, p))| (k, p)).collect())
}

/// `mem.csv`: app name → MB.
pub(super) fn parse_mem<'a>(
    file: &'a str,
    text: &'a str,
) -> Result<HashMap<&'a str, u32>, WorkloadError> {
    let mut it = lines(text);
    let header = Header::read(file, &mut it)?;
    let app_col = header.column("HashApp")?;
    let mb_col = header.column("AverageAllocatedMb")?;
    let mut seen: HashMap<&str, (usize, u32)> = HashMap::new();
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let app = parse_name(file, line_no, app_col + 1, "HashApp", fields[app_col])?;
        let mb = parse_number(file, line_no, mb_col + 1, fields[mb_col])?;
        if mb > f64::from(u32::MAX) {
            return Err(error(
                file,
                line_no,
                mb_col + 1,
                format!("memory `{}` MB is too large", fields[mb_col]),
            ));
        }
        let mb = (mb.round() as u32).max(1);
        if let Some((first, _)) = seen.insert(app, (line_no, mb)) {
            return Err(error(
                file,
                line_no,
                app_col + 1,
                format!("duplicate app `{app}` (first on line {first})"),
            ));
        }
    }
    Ok(seen.into_iter().map(|(k, (_, mb))| (k, mb)).collect())
}

/// Parses the three files (already read) and builds the workload.
pub(crate) fn parse_trace(
    inv: TraceFile<'_>,
    run: TraceFile<'_>,
    mem: TraceFile<'_>,
    minutes: Range<u32>,
    arrivals: Arrivals,
    seed: u64,
    source: String,
) -> Result<Workload, WorkloadError> {
    check_range(&source, &minutes)?;
    let (inv_text, run_text, mem_text) = (decode(&inv)?, decode(&run)?, decode(&mem)?);
    let durations = parse_run(&run.name, run_text)?;
    let memory = parse_mem(&mem.name, mem_text)?;

    let file = inv.name.as_str();
    let mut it = lines(inv_text);
    let header = Header::read(file, &mut it)?;
    let name_col = header.column("HashFunction")?;
    let app_col = header.column("HashApp")?;
    let first_minute = header
        .names
        .iter()
        .position(|n| *n == "minute_1" || *n == "1")
        .ok_or_else(|| {
            error(
                file,
                header.line,
                1,
                "header has no first minute column (`minute_1` or `1`)",
            )
        })?;
    let prefix = if header.names[first_minute] == "1" {
        ""
    } else {
        "minute_"
    };
    for (j, name) in header.names[first_minute..].iter().enumerate() {
        let number = name
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok());
        if number != Some(j + 1) {
            return Err(error(
                file,
                header.line,
                first_minute + j + 1,
                format!("expected minute column `{prefix}{}`, found `{name}`", j + 1),
            ));
        }
    }
    let trace_minutes = header.names.len() - first_minute;
    if minutes.end as usize > trace_minutes {
        return Err(error(
            file,
            header.line,
            header.names.len(),
            format!(
                "minute range {}..{} reaches past the trace's {trace_minutes} minutes",
                minutes.start, minutes.end
            ),
        ));
    }
    let (lo, hi) = (
        first_minute + minutes.start as usize,
        first_minute + minutes.end as usize,
    );
    let span = (minutes.end - minutes.start) as usize;

    // Roughly one line per function: pre-size by a cheap count.
    let rows_hint = inv_text
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        .min(1 << 20);
    let mut functions = Vec::with_capacity(rows_hint);
    let mut tables = Vec::with_capacity(rows_hint);
    // Capped: a file of blank lines must not reserve gigabytes.
    let mut counts: Vec<u32> = Vec::with_capacity(rows_hint.saturating_mul(span).min(1 << 24));
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rows_hint);
    let mut total = 0u64;
    let mut fields = Vec::with_capacity(header.names.len());
    for (line_no, line) in it {
        split_row(file, line_no, line, header.names.len(), &mut fields)?;
        let name = parse_name(
            file,
            line_no,
            name_col + 1,
            "HashFunction",
            fields[name_col],
        )?;
        let app = parse_name(file, line_no, app_col + 1, "HashApp", fields[app_col])?;
        if let Some(first) = seen.insert(name, line_no) {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("duplicate function `{name}` (first on line {first})"),
            ));
        }
        let Some(&table) = durations.get(name) else {
            return Err(error(
                file,
                line_no,
                name_col + 1,
                format!("function `{name}` has no row in {}", run.name),
            ));
        };
        if functions.len() >= u32::MAX as usize {
            return Err(error(file, line_no, 1, "too many functions"));
        }
        let mut function_calls = 0u64;
        for (col, field) in fields.iter().enumerate().skip(first_minute) {
            let count = parse_count(file, line_no, col + 1, field)?;
            if (lo..hi).contains(&col) {
                function_calls = function_calls.saturating_add(count);
                total = total.saturating_add(count);
                if total > MAX_CALLS {
                    return Err(error(
                        file,
                        line_no,
                        col + 1,
                        format!("more than {MAX_CALLS} calls in the range"),
                    ));
                }
                counts.push(count as u32); // <= MAX_CALLS < u32::MAX
            }
        }
        functions.push(Function {
            name: name.to_owned(),
            memory_mb: memory.get(app).copied().unwrap_or(DEFAULT_MEMORY_MB),
            total_calls: function_calls,
        });
        tables.push(table);
    }
    if functions.is_empty() {
        return Err(error(file, header.line + 1, 1, "no function rows"));
    }
    let calls = materialize(&counts, &tables, minutes.clone(), arrivals, seed);
    Ok(Workload {
        functions,
        calls,
        minutes: minutes.end - minutes.start,
        source,
    })
}
