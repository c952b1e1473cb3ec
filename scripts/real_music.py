"""The real-music benchmark collection: freely licensed recorded music from Debian's game-soundtrack packages.

Downloads the packages below with `apt-get download` (no root needed; `apt-get update` first on a fresh machine),
extracts their music, and writes `GENRE/TRACK.wav` (mono, 16-bit, 22050 Hz by default) with a manifest
(`manifest.json` and `manifest.csv`: genre, file, package, version, license, copyright holder, source path,
seconds) and each package's copyright file under `licenses/`, into a cache outside the repository
(default `~/.cache/audiodiff/real-music`, or `$AUDIODIFF_REAL_MUSIC`). Idempotent: a second run downloads and
converts nothing that is already there, and a killed run resumes (every file is written to a temporary name and
renamed into place; the manifest is written last).

Genres are our grouping of what the packages hold (looked at and listened to, 2026-11-27):
- rock: the Frets on Fire song packs (Muldjord's metal, Sectoid's rock; backing, guitar and rhythm stems mixed
  into the full song) and ASC's soundtrack (guitar rock with drums);
- electronic: HyperRogue's and Colobot's synthesizer soundtracks (tonal, sequenced, sharp note onsets);
- cinematic: Warzone 2100's orchestral/ambient soundtracks (original, Legacy and Aftermath albums; the
  "enhanced" remakes of original tracks are left out so no track appears twice).

Reserved for an independent check and never used here: the `wesnoth-*-music` and `nexuiz-music` packages and
music21's Bach chorales.

    python scripts/real_music.py [--cache DIR] [--sample-rate 22050] [--genres rock,electronic]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from audiodiff.audio import AudioError, load_audio, save_audio

RESERVED = ("wesnoth-*-music", "nexuiz-music")


@dataclasses.dataclass(frozen=True)
class Source:
    """One Debian package's music: which files (globs inside the package), which genre, under which licence.

    `stems`: when set, each folder matched by `files` is one song whose listed stem files are mixed.
    `licenses`: (glob, licence, copyright holder) in order; the first glob matching the file's path wins.
    """

    package: str
    genre: str
    files: tuple[str, ...]
    licenses: tuple[tuple[str, str, str], ...]
    exclude: tuple[str, ...] = ()
    stems: tuple[str, ...] = ()


FROFS_STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg")
SOURCES = (
    Source(
        "fretsonfire-songs-muldjord",
        "rock",
        ("usr/share/games/fretsonfire/data/songs/muldjord/*/",),
        (("*", "CC-BY-SA-3.0", "El Senator (Muldjord)"),),
        stems=FROFS_STEMS,
    ),
    Source(
        "fretsonfire-songs-sectoid",
        "rock",
        ("usr/share/games/fretsonfire/data/songs/sectoid/*/",),
        (("*", "Expat (MIT)", "Carlos Viola Iborra"),),
        stems=FROFS_STEMS,
    ),
    Source(
        "asc-music",
        "rock",
        ("usr/share/games/asc/music/*.mp3",),
        (("*", "GPL-2+", "Michael Kievernagel"),),
    ),
    Source(
        "hyperrogue-music",
        "electronic",
        ("usr/share/hyperrogue/music/*.ogg",),
        (
            ("*/hr3-*", "CC-BY-SA-3.0", "Shawn Parrotte"),
            ("*/hr-domina-*", "CC-BY-SA-3.0", "Lincoln Domina"),
            ("*/hr-savino-*", "CC-BY-SA-3.0", "Will Savino"),
            ("*", "GPL-2+", "Zeno Rogue"),
        ),
    ),
    Source(
        "colobot-common-sounds",
        "electronic",
        ("usr/share/games/colobot/music/*.ogg",),
        (("*", "GPL-3+", "Daniel Roux, EPSITEC SA & TerranovaTeam"),),
    ),
    Source(
        "warzone2100-music",
        "cinematic",
        ("usr/share/games/warzone2100/music/*.opus", "usr/share/games/warzone2100/music/albums/*/*.opus"),
        (
            ("*/legacy_soundtrack/*", "CC-BY-SA-3.0", "LupusMechanicus"),
            ("*/aftermath_soundtrack/*", "CC-BY-SA-3.0", "LupusMechanicus"),
            ("*", "GPL-2+", "Eidos Interactive / Warzone 2100 Project"),
        ),
        exclude=("*_enhanced.opus",),
    ),
)


# Packages outside the collection, built only when a benchmark names one (`ensure_collection(package=...)`), each in a
# folder of its own (`extra/PACKAGE` in the cache), so that the benchmarks that read every genre of the collection
# keep seeing the same three. SuperTux's soundtrack (game music: chiptune, orchestral and band themes; Debian lists
# data/music/* as GPL-2+ by Marek Moeckel): 43 tracks once the short jingles and voice clips are left out, enough
# for `bench_small_data.py --songs 3,10,20` to hold out 23 (Colobot's 21 cannot hold 20 songs and a reference).
EXTRA_SOURCES = (
    Source(
        "supertux-data",
        "supertux",
        ("usr/share/games/supertux2/music/*/*.ogg",),
        (("*", "GPL-2+", "Marek Moeckel and the SuperTux team"),),
        exclude=("*/voc-*", "*/leveldone.ogg", "*/invincible.ogg", "*/bonuscave.ogg"),
    ),
)


class CollectionError(RuntimeError):
    """The collection cannot be built; the message says why and what to do."""


def default_cache() -> Path:
    return Path(os.environ.get("AUDIODIFF_REAL_MUSIC", Path.home() / ".cache" / "audiodiff" / "real-music"))


def check_not_reserved(package: str) -> None:
    if any(fnmatch.fnmatch(package, pattern) for pattern in RESERVED):
        raise CollectionError(f"{package} is reserved for the independent check and must not be used here")


def _run(command: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CollectionError(f"{command[0]} not found: this script needs Debian's apt-get and dpkg-deb") from None
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["failed"]
        raise CollectionError(f"{' '.join(command)}: {message[0]}")
    return done.stdout


def fetch_package(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, downloaded by `apt-get download` unless a .deb of it is already there."""
    check_not_reserved(package)
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    with tempfile.TemporaryDirectory(dir=debs) as scratch:
        try:
            _run(["apt-get", "download", package], cwd=Path(scratch))
        except CollectionError as error:
            raise CollectionError(f"{error} (run `apt-get update` once on a fresh machine)") from None
        downloaded = sorted(Path(scratch).glob(f"{package}_*.deb"))
        if not downloaded:
            raise CollectionError(f"apt-get download {package} wrote no .deb")
        target = debs / downloaded[-1].name
        os.replace(downloaded[-1], target)
    return target


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def _track_name(source: Source, relative: str) -> str:
    stem = Path(relative.rstrip("/")).name
    if not source.stems:
        stem = Path(stem).stem
        album = Path(relative).parent.name
        if album.endswith("_soundtrack"):
            stem = f"{album.removesuffix('_soundtrack')}-{stem}"
    short = source.package.removesuffix("-music").removesuffix("-common-sounds").removeprefix("fretsonfire-songs-")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{short}--{stem}").strip("_")


def _license(source: Source, relative: str) -> tuple[str, str]:
    for pattern, license_name, holder in source.licenses:
        if fnmatch.fnmatch(relative, pattern):
            return license_name, holder
    raise CollectionError(f"{source.package}: no licence listed for {relative}")


def _tracks(source: Source, root: Path) -> list[tuple[str, list[Path]]]:
    """(relative path, files to mix) for every track of `source` extracted under `root`, sorted."""
    tracks = []
    for pattern in source.files:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
            if _matches(relative, source.exclude):
                continue
            if source.stems:
                parts = [path / stem for stem in source.stems if (path / stem).is_file()]
                if parts:
                    tracks.append((relative, parts))
            elif path.is_file():
                tracks.append((relative, [path]))
    return tracks


def _mix(parts: list[Path], sample_rate: int) -> np.ndarray:
    """Mono mix of the stems at `sample_rate`, scaled down only if the sum would clip. Shape `(time,)`."""
    signals = [load_audio(part, sample_rate) for part in parts]
    length = max(len(signal) for signal in signals)
    mix = np.zeros(length, dtype=np.float32)
    for signal in signals:
        mix[: len(signal)] += signal
    peak = float(np.abs(mix).max())
    return mix / peak * 0.99 if peak > 0.99 else mix


def build(cache: Path, sample_rate: int, genres: set[str] | None = None, log=print, sources=SOURCES) -> list[dict]:
    """Build (or complete) the collection of `sources` in `cache`; returns the manifest rows."""
    manifest_path = cache / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
    known = {row["file"]: row for row in previous if row.get("sample_rate") == sample_rate}
    rows = []
    for source in sources:
        if genres and source.genre not in genres:
            continue
        deb = fetch_package(source.package, cache / "debs")
        version = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            _run(["dpkg-deb", "-x", str(deb), str(root)])
            licenses = cache / "licenses"
            licenses.mkdir(parents=True, exist_ok=True)
            for copyright_file in root.glob("usr/share/doc/*/copyright"):
                shutil.copyfile(copyright_file, licenses / f"{source.package}.copyright")
            for license_text in root.glob("usr/share/games/*/music/albums/*/license.txt"):
                shutil.copyfile(license_text, licenses / f"{source.package}.{license_text.parent.name}.license.txt")
            tracks = _tracks(source, root)
            if not tracks:
                raise CollectionError(f"{source.package} {version}: no music files matched {source.files}")
            for relative, parts in tracks:
                file = f"{source.genre}/{_track_name(source, relative)}.wav"
                license_name, holder = _license(source, relative)
                row = known.get(file)
                if row is None or row["version"] != version or not (cache / file).is_file():
                    try:
                        audio = _mix(parts, sample_rate)
                    except AudioError as error:
                        log(f"skipped {source.package}: {error}")
                        continue
                    temporary = cache / f"{file}.tmp-{os.getpid()}.wav"
                    save_audio(temporary, audio, sample_rate)
                    os.replace(temporary, cache / file)
                    log(f"wrote {file} ({len(audio) / sample_rate:.0f} s)")
                    row = {"seconds": round(len(audio) / sample_rate, 2)}
                rows.append(
                    {
                        "genre": source.genre,
                        "file": file,
                        "package": source.package,
                        "version": version,
                        "license": license_name,
                        "copyright": holder,
                        "source": relative
                        + ("{" + ",".join(part.name for part in parts) + "}" if source.stems else ""),
                        "seconds": row["seconds"],
                        "sample_rate": sample_rate,
                    }
                )
    if genres:  # keep the other genres' rows of an earlier full run
        rows += [row for row in previous if row["genre"] not in genres and row["file"] not in {r["file"] for r in rows}]
    rows.sort(key=lambda row: row["file"])
    temporary = manifest_path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(rows, indent=1) + "\n")
    with open(cache / "manifest.csv.tmp", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(cache / "manifest.csv.tmp", cache / "manifest.csv")
    os.replace(temporary, manifest_path)
    return rows


def ensure_collection(
    cache: Path | None = None, sample_rate: int = 22050, log=print, package: str | None = None
) -> Path:
    """The collection's folder, built first if its manifest is missing (for the benchmarks). `package`: one of
    `EXTRA_SOURCES`, built alone in `extra/PACKAGE` of the cache, whose folder is returned instead (any other name:
    the collection)."""
    cache = Path(cache) if cache is not None else default_cache()
    extra = tuple(source for source in EXTRA_SOURCES if source.package == package)
    if extra:
        cache = cache / "extra" / str(package)
    manifest = cache / "manifest.json"
    if not manifest.is_file() or any(
        not (cache / row["file"]).is_file() or row["sample_rate"] != sample_rate
        for row in json.loads(manifest.read_text())
    ):
        build(cache, sample_rate, log=log, sources=extra or SOURCES)
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="Output folder (default: %(default)s).")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--genres", default=None, help="Comma-separated subset of: rock, electronic, cinematic.")
    args = parser.parse_args()
    cache = args.cache or default_cache()
    genres = set(args.genres.split(",")) if args.genres else None
    unknown = (genres or set()) - {source.genre for source in SOURCES}
    if unknown:
        raise SystemExit(f"real_music: unknown genre(s) {sorted(unknown)}")
    try:
        rows = build(cache, args.sample_rate, genres)
    except CollectionError as error:
        raise SystemExit(f"real_music: {error}") from None
    print(f"collection: {cache}")
    for genre in sorted({row["genre"] for row in rows}):
        selected = [row for row in rows if row["genre"] == genre]
        minutes = sum(row["seconds"] for row in selected) / 60
        packages = sorted({row["package"] for row in selected})
        print(f"  {genre:<11} {len(selected):3d} tracks {minutes:6.1f} min  ({', '.join(packages)})")
    total = sum(row["seconds"] for row in rows) / 60
    print(f"RESULT tracks={len(rows)} minutes={total:.1f} genres={len({row['genre'] for row in rows})}")


if __name__ == "__main__":
    sys.exit(main())
