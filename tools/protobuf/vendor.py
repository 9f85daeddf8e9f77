#!/usr/bin/env python3
"""Vendor Kubernetes' generated.proto files into apimachinery/proto/ and extract the Go facts
the .proto files do not carry (apimachinery/proto/go_fields.tsv).

Usage: tools/protobuf/vendor.py API APIMACHINERY APIEXTENSIONS AGGREGATOR
where each argument is `<git dir>@<tag>` of kubernetes/api, kubernetes/apimachinery,
kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator.

go_fields.tsv, one line per protobuf field of a Go struct:
    <message full name> TAB <field number> TAB <json name> TAB <flags>
groups.tsv: <proto package> TAB <API group, - for the core group> TAB <version>.
flags: `inline` when the Go field is embedded without a JSON name (Go's JSON promotes its
fields into the parent's object); `omitzero` when the Go field is a non-pointer scalar (or []byte) whose json tag has
omitempty/omitzero: Go's protobuf marshaller always writes it, JSON omits its zero value, so
the decoder drops a zero value to give the JSON form. And one line per Go named slice type
that has a wrapper message (`type Verbs []string`, JSON is a bare array):
    <message full name> TAB - TAB - TAB array
"""
import os, re, subprocess, sys

# Every group/version k8s-openapi 0.29 (feature v1_37) covers.
API = """admissionregistration/v1 admissionregistration/v1alpha1 admissionregistration/v1beta1
apiserverinternal/v1alpha1 apps/v1 authentication/v1 authorization/v1 autoscaling/v1
autoscaling/v2 batch/v1 certificates/v1 certificates/v1beta1 coordination/v1
coordination/v1alpha2 coordination/v1beta1 core/v1 discovery/v1 events/v1 flowcontrol/v1
lifecycle/v1alpha1 networking/v1 node/v1 policy/v1 rbac/v1 resource/v1 resource/v1alpha3
resource/v1beta1 resource/v1beta2 scheduling/v1 scheduling/v1alpha3 scheduling/v1beta1
storage/v1 storagemigration/v1 storagemigration/v1beta1""".split()
MACHINERY = "pkg/apis/meta/v1 pkg/runtime pkg/runtime/schema pkg/util/intstr pkg/api/resource".split()

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "apimachinery", "proto")


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, text=True).stdout


FIELD = re.compile(r'^\s*(\w+)\s+([^\s`]+)\s+`([^`]*)`')
EMBEDDED = re.compile(r'^\s*(\*?[\w.]+)\s+`([^`]*)`')
TAG = re.compile(r'(\w+):"([^"]*)"')
SLICE = re.compile(r'^type\s+(\w+)\s+\[\](\w+)\s*$')
GROUP = re.compile(r'^(?://\s*\+groupName=|const GroupName = ")([\w.]*)"?\s*$')
STRUCT = re.compile(r'^type\s+(\w+)\s+struct\s*\{')


def go_facts(repo, tag, pkgdir, package, out, groups):
    files = [f for f in git(repo, "ls-tree", "--name-only", f"{tag}:{pkgdir}" if pkgdir else tag).split()
             if f.endswith(".go") and not f.endswith("_test.go")]
    for f in files:
        path = f"{pkgdir}/{f}" if pkgdir else f
        struct = None
        for line in git(repo, "show", f"{tag}:{path}").splitlines():
            g = GROUP.match(line)
            if g:
                groups.add(f"{package}\t{g.group(1) or '-'}\t{pkgdir.rsplit('/', 1)[-1]}")
            m = SLICE.match(line)
            if m:
                out.append(f"{package}.{m.group(1)}\t-\t-\tarray")
                continue
            m = STRUCT.match(line)
            if m:
                struct = m.group(1)
                continue
            if line.startswith("}"):
                struct = None
                continue
            if struct is None or line.lstrip().startswith("//"):
                continue
            m = FIELD.match(line)
            embedded = m is None
            if m:
                gotype, tagtext = m.group(2), m.group(3)
            else:
                m = EMBEDDED.match(line)
                if not m:
                    continue
                gotype, tagtext = m.group(1), m.group(2)
            tags = dict(TAG.findall(tagtext))
            if "protobuf" not in tags:
                continue
            pb = tags["protobuf"].split(",")
            if len(pb) < 2 or not pb[1].isdigit():
                continue
            number = pb[1]
            js = tags.get("json", "").split(",")
            jname = js[0] or "-"
            flags = []
            if js[0] == "" and (embedded or "inline" in js[1:]):
                flags.append("inline")
            # A Go value (not a pointer, slice or map; []byte aside) whose JSON omits its zero
            # value. The generator keeps the flag only on scalar protobuf fields.
            value = not gotype.startswith(("*", "map[", "[]")) or gotype == "[]byte"
            if ("omitempty" in js[1:] or "omitzero" in js[1:]) and value:
                flags.append("omitzero")
            out.append(f"{package}.{struct}\t{number}\t{jname}\t{','.join(flags) or '-'}")


def vendor(repo, tag, src, dest):
    text = git(repo, "show", f"{tag}:{src}")
    path = os.path.join(ROOT, dest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return re.search(r"^package\s+([\w.]+);", text, re.M).group(1)


def main():
    api, machinery, ext, agg = [a.split("@") for a in sys.argv[1:5]]
    facts, sources, groups = [], [], set()
    jobs = [(api, f"{gv}/generated.proto", f"k8s.io/api/{gv}/generated.proto", gv) for gv in API]
    jobs += [(machinery, f"{p}/generated.proto", f"k8s.io/apimachinery/{p}/generated.proto", p) for p in MACHINERY]
    jobs.append((ext, "pkg/apis/apiextensions/v1/generated.proto",
                 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto", "pkg/apis/apiextensions/v1"))
    jobs.append((agg, "pkg/apis/apiregistration/v1/generated.proto",
                 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/generated.proto", "pkg/apis/apiregistration/v1"))
    for (repo, tag), src, dest, pkgdir in jobs:
        package = vendor(repo, tag, src, dest)
        go_facts(repo, tag, pkgdir, package, facts, groups)
        sources.append(dest)
    with open(os.path.join(ROOT, "go_fields.tsv"), "w") as fh:
        fh.write("\n".join(sorted(set(facts))) + "\n")
    with open(os.path.join(ROOT, "groups.tsv"), "w") as fh:
        fh.write("\n".join(sorted(groups)) + "\n")
    with open(os.path.join(ROOT, "files.txt"), "w") as fh:
        fh.write("\n".join(sources) + "\n")


main()
