"""From a pod's spec to what a local process needs: pure, no I/O.

A kubelet gives a container its own filesystem and network; here a pod gets a directory
(`<state>/pods/<namespace>/<pod>/`) and a loopback address. So every mount path of the container
becomes a path in the pod directory (`/etc/dataquarantine` → `<pod dir>/etc/dataquarantine`, a
link to the volume's files under `<pod dir>/volumes/<volume>`), and the command, arguments and
environment are rewritten to match. Secrets and ConfigMaps come from a `Sources` lookup.

This is not a general container runtime: only `python -m validator_pod ...` and
`python -m quarantine_operator ...` run, with the runner's own interpreter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

ALLOWED_MODULES: Final = ("validator_pod", "quarantine_operator")
PYTHON_NAMES: Final = frozenset({"python", "python3"})
LOG_FILE: Final = "log"
VOLUMES_DIR: Final = "volumes"
RESERVED: Final = frozenset({LOG_FILE, VOLUMES_DIR})
"""Top-level names of the pod directory that no mount may take."""

CONFIG_MAP_MODE: Final = 0o644
SECRET_MODE: Final = 0o600
BIND_ADDRESS_ENV: Final = "DQ_BIND_ADDRESS"
"""Where the processes learn their pod's address (validator_pod.settings.Settings.bind_address)."""

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_OPTION = re.compile(r"^--?[A-Za-z0-9][-_.A-Za-z0-9]*$")
_FIELD_IN_BRACKETS = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class PodRefusedError(Exception):
    """The pod asks for something this runner does not do (another command, several
    containers, an unsupported volume or probe): it is never started."""

    reason = "Refused"


class SetupError(Exception):
    """A Secret, ConfigMap or key the pod needs is missing: retried until it appears, as a
    kubelet does (`CreateContainerConfigError`, or `FailedMount` for volumes)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Sources(Protocol):
    """The Secrets and ConfigMaps of the pod's namespace, decoded to bytes per key."""

    def secret(self, name: str) -> Mapping[str, bytes] | None:
        """The Secret's data, or None when it does not exist."""

    def config_map(self, name: str) -> Mapping[str, bytes] | None:
        """The ConfigMap's data and binaryData, or None when it does not exist."""


@dataclass(frozen=True, slots=True)
class PodFile:
    """A file of a volume."""

    path: Path
    content: bytes
    mode: int


@dataclass(frozen=True, slots=True)
class VolumePlan:
    """The pod directory's layout: volume directories and files, and one link per mount."""

    directories: tuple[Path, ...]
    files: tuple[PodFile, ...]
    links: tuple[tuple[Path, Path], ...]
    """(link, target): the mount path in the pod directory → the volume (or its subPath)."""
    mounts: Mapping[str, Path]
    """Container mount path → local path, for rewriting."""


@dataclass(frozen=True, slots=True)
class ProcessPlan:
    """How to start the container's process."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path


@dataclass(frozen=True, slots=True)
class Identity:
    """What the downward API can tell the container about its pod."""

    pod_ip: str
    host_ip: str
    node_name: str


def pod_directory(state_dir: Path, namespace: str, name: str) -> Path:
    """`<state>/pods/<namespace>/<pod>/`."""
    return state_dir / "pods" / namespace / name


# --- What runs ----------------------------------------------------------------------------------


def the_container(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod's single container; refuses what this runner cannot honour."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if len(containers) != 1:
        raise PodRefusedError(f"one container per pod is supported, this pod has {len(containers)}")
    for field in ("initContainers", "ephemeralContainers"):
        if spec.get(field):
            raise PodRefusedError(f"{field} are not supported")
    container: Mapping[str, Any] = containers[0]
    check_command(command_line(container))
    return container


def command_line(container: Mapping[str, Any]) -> list[str]:
    """`command` + `args` as written in the spec (no image entrypoint is known here)."""
    return [*(container.get("command") or []), *(container.get("args") or [])]


def check_command(argv: Sequence[str]) -> None:
    """Accept only `python -m validator_pod ...` and `python -m quarantine_operator ...`."""
    allowed = (
        len(argv) >= 3
        and PurePosixPath(argv[0]).name in PYTHON_NAMES
        and argv[1] == "-m"
        and argv[2] in ALLOWED_MODULES
    )
    if not allowed:
        shown = " ".join(argv) or "(no command: the image's entrypoint is unknown here)"
        modules = " or ".join(f"`python -m {module} ...`" for module in ALLOWED_MODULES)
        raise PodRefusedError(
            f"refusing to run {shown!r}: this dev-only runner runs only {modules}"
        )


def container_ports(container: Mapping[str, Any]) -> dict[str, int]:
    """Named container ports (`metrics` → 9400)."""
    return {
        str(port["name"]): int(port["containerPort"])
        for port in container.get("ports") or ()
        if port.get("name")
    }


def declared_ports(container: Mapping[str, Any]) -> tuple[int, ...]:
    """Every TCP port the container declares (the runner checks them free on its address)."""
    return tuple(
        int(port["containerPort"])
        for port in container.get("ports") or ()
        if port.get("protocol", "TCP") == "TCP"
    )


# --- Paths --------------------------------------------------------------------------------------


def local_path(pod_dir: Path, container_path: str) -> Path:
    """Where a container path lives in the pod directory."""
    return pod_dir.joinpath(*PurePosixPath(container_path).parts[1:])


def rewrite_path(value: str, mounts: Mapping[str, Path]) -> str:
    """`value` with a leading mount path replaced by its local path; also in `--option=/path`.

    The longest matching mount wins; a value that names no mount is returned unchanged. Apply
    once to the container's final values: a local path may itself start with a mount path
    (`/tmp/...` when the state lives under /tmp).
    """
    flag, equals, rest = value.partition("=")
    if equals and _OPTION.match(flag):
        return f"{flag}={rewrite_path(rest, mounts)}"
    for mount in sorted(mounts, key=len, reverse=True):
        if value == mount:
            return str(mounts[mount])
        if value.startswith(mount.rstrip("/") + "/"):
            return str(mounts[mount] / value[len(mount.rstrip("/")) + 1 :])
    return value


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, undefined references
    stay as written, `$$` is a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (end := value.find(")", i + 2)) != -1:
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


# --- Volumes ------------------------------------------------------------------------------------


def _items(
    data: Mapping[str, bytes],
    items: Sequence[Mapping[str, Any]] | None,
    *,
    default_mode: int,
    optional: bool,
    what: str,
) -> list[tuple[str, bytes, int]]:
    if not items:
        return [(key, value, default_mode) for key, value in sorted(data.items())]
    chosen = []
    for item in items:
        key = item["key"]
        if key not in data:
            if optional:
                continue
            raise SetupError("FailedMount", f"couldn't find key {key} in {what}")
        chosen.append((str(item["path"]), data[key], int(item.get("mode", default_mode))))
    return chosen


def _volume_files(
    volume: Mapping[str, Any], root: Path, sources: Sources, namespace: str
) -> list[PodFile]:
    """The files of a ConfigMap or Secret volume; none for an emptyDir."""
    if "emptyDir" in volume:
        return []
    if "configMap" in volume:
        source = volume["configMap"]
        name, kind, default = source["name"], "ConfigMap", CONFIG_MAP_MODE
        data = sources.config_map(name)
    elif "secret" in volume:
        source = volume["secret"]
        name, kind, default = source["secretName"], "Secret", SECRET_MODE
        data = sources.secret(name)
    else:
        kinds = ", ".join(sorted(key for key in volume if key != "name"))
        raise PodRefusedError(f"volume {volume['name']!r} ({kinds}) is not supported")
    optional = bool(source.get("optional", False))
    if data is None:
        if optional:
            return []
        raise SetupError("FailedMount", f'{kind.lower()} "{name}" not found')
    entries = _items(
        data,
        source.get("items"),
        default_mode=int(source.get("defaultMode", default)),
        optional=optional,
        what=f"{kind} {namespace}/{name}",
    )
    return [PodFile(root / path, content, mode) for path, content, mode in entries]


def plan_volumes(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: Sources, pod_dir: Path
) -> VolumePlan:
    """The pod directory: each volume under `volumes/<name>`, each mount as a link."""
    namespace = pod["metadata"]["namespace"]
    volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes") or ()}
    directories: list[Path] = []
    files: list[PodFile] = []
    for name, volume in volumes.items():
        root = pod_dir / VOLUMES_DIR / name
        directories.append(root)
        files.extend(_volume_files(volume, root, sources, namespace))
    links: list[tuple[Path, Path]] = []
    mounts: dict[str, Path] = {}
    for mount in container.get("volumeMounts") or ():
        path = PurePosixPath(mount["mountPath"])
        if not path.is_absolute() or len(path.parts) < 2 or ".." in path.parts:
            raise PodRefusedError(
                f"mount path {str(path)!r} cannot be mapped into the pod directory"
            )
        if path.parts[1] in RESERVED:
            raise PodRefusedError(
                f"mount path {str(path)!r} collides with the runner's {path.parts[1]}"
            )
        if mount["name"] not in volumes:
            raise PodRefusedError(f"volume {mount['name']!r} is mounted but not declared")
        target = pod_dir / VOLUMES_DIR / mount["name"]
        if mount.get("subPath"):
            target = target / mount["subPath"]
        link = local_path(pod_dir, str(path))
        links.append((link, target))
        mounts[str(path)] = link
    return VolumePlan(tuple(directories), tuple(files), tuple(links), mounts)


# --- Environment and command --------------------------------------------------------------------


def _field_value(pod: Mapping[str, Any], path: str, identity: Identity) -> str:
    metadata = pod["metadata"]
    values = {
        "metadata.name": metadata["name"],
        "metadata.namespace": metadata["namespace"],
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": identity.node_name,
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.podIP": identity.pod_ip,
        "status.podIPs": identity.pod_ip,
        "status.hostIP": identity.host_ip,
        "status.hostIPs": identity.host_ip,
    }
    if path in values:
        return str(values[path])
    bracketed = _FIELD_IN_BRACKETS.match(path)
    if bracketed:
        return str((metadata.get(bracketed.group(1)) or {}).get(bracketed.group(2), ""))
    raise PodRefusedError(f"fieldRef {path!r} is not supported")


def _key_ref(
    ref: Mapping[str, Any], kind: str, lookup: Callable[[str], Mapping[str, bytes] | None]
) -> str | None:
    data = lookup(ref["name"])
    optional = bool(ref.get("optional", False))
    if data is None:
        if optional:
            return None
        raise SetupError("CreateContainerConfigError", f'{kind.lower()} "{ref["name"]}" not found')
    if ref["key"] not in data:
        if optional:
            return None
        raise SetupError(
            "CreateContainerConfigError", f"couldn't find key {ref['key']} in {kind} {ref['name']}"
        )
    return data[ref["key"]].decode()


def _env_from(container: Mapping[str, Any], sources: Sources) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or ():
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref, kind, lookup = source["configMapRef"], "ConfigMap", sources.config_map
        else:
            ref, kind, lookup = source["secretRef"], "Secret", sources.secret
        data = lookup(ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise SetupError(
                "CreateContainerConfigError", f'{kind.lower()} "{ref["name"]}" not found'
            )
        for key, value in sorted(data.items()):
            if _ENV_NAME.match(prefix + key):
                env[prefix + key] = value.decode()
    return env


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: Sources, identity: Identity
) -> dict[str, str]:
    """The container's environment as Kubernetes would set it (envFrom, then env, each value
    expanded with the variables defined before it), in container paths."""
    env = _env_from(container, sources)
    for var in container.get("env") or ():
        name = var["name"]
        source = var.get("valueFrom")
        value: str | None
        if source is None:
            value = expand(var.get("value", ""), env)
        elif "secretKeyRef" in source:
            value = _key_ref(source["secretKeyRef"], "Secret", sources.secret)
        elif "configMapKeyRef" in source:
            value = _key_ref(source["configMapKeyRef"], "ConfigMap", sources.config_map)
        elif "fieldRef" in source:
            value = _field_value(pod, source["fieldRef"]["fieldPath"], identity)
        else:
            kinds = ", ".join(sorted(source))
            raise PodRefusedError(f"env {name!r} from {kinds} is not supported")
        if value is not None:
            env[name] = value
    return env


def plan_process(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    sources: Sources,
    *,
    identity: Identity,
    volumes: VolumePlan,
    pod_dir: Path,
    python: str,
    base_env: Mapping[str, str],
) -> ProcessPlan:
    """The local command line, environment and working directory of the container.

    `python` replaces the interpreter; mount paths become pod-directory paths; `base_env` (PATH,
    locale) comes first, then the container's variables, then what the runner owns: the pod's
    host name, address (`DQ_BIND_ADDRESS`), HOME and TMPDIR inside the pod directory.
    """
    check_command(command_line(container))
    env = container_env(pod, container, sources, identity)
    argv = [expand(arg, env) for arg in command_line(container)]
    mounts = volumes.mounts
    local_argv = (python, *(rewrite_path(arg, mounts) for arg in argv[1:]))
    tmp = mounts.get("/tmp", pod_dir / "tmp")
    cwd = pod_dir
    if working_dir := container.get("workingDir"):
        rewritten = rewrite_path(working_dir, mounts)
        cwd = Path(rewritten) if rewritten != working_dir else local_path(pod_dir, working_dir)
    return ProcessPlan(
        argv=local_argv,
        env={
            **base_env,
            **{name: rewrite_path(value, mounts) for name, value in env.items()},
            "HOSTNAME": pod["metadata"]["name"],
            "HOME": str(pod_dir),
            "TMPDIR": str(tmp),
            BIND_ADDRESS_ENV: identity.pod_ip,
        },
        cwd=cwd,
    )


def directories_to_create(plan: ProcessPlan, pod_dir: Path) -> Iterable[Path]:
    """Directories the process expects besides its volumes: its working directory and TMPDIR
    when they are not mounts."""
    for path in (plan.cwd, Path(plan.env["TMPDIR"])):
        if path.is_relative_to(pod_dir):
            yield path
