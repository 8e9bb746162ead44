#!/bin/sh
# network.sh CKPT: the network of a checkpoint as a CSV table of one row,
#   arch,width,params,backbone_params,gflop
# (parameters of the whole network and of its backbone, forward GFLOP per
# image), from ssl-info --json; what the model-size table reports beside
# each configuration. Fails, naming CKPT, when ssl-info cannot tell.
prog=network.sh
. "$(dirname "$0")/results.sh"
[ $# -eq 1 ] || { echo "usage: network.sh CKPT" >&2; exit 2; }
j=$(ssl-info --json "$1") || die "$1: ssl-info failed"
net=$(printf '%s\n' "$j" | grep -o '"network":{[^}]*}' | head -n 1)
# key NAME: the value of NAME in the network object (a string without its quotes)
key() { printf '%s\n' "$net" | sed -n "s/.*\"$1\":\"*\([^,\"}]*\).*/\1/p"; }
arch=$(key arch); params=$(key params); bb=$(key backbone_params); flops=$(key flops)
width=$(printf '%s\n' "$j" | grep -o '"net":{[^}]*}' | head -n 1 | sed -n 's/.*"width":\([0-9.eE+-]*\).*/\1/p')
[ -n "$arch" ] && [ -n "$params" ] && [ -n "$bb" ] && [ -n "$flops" ] && [ -n "$width" ] ||
    die "$1: no network in ssl-info's description"
echo "arch,width,params,backbone_params,gflop"
awk -v a="$arch" -v w="$width" -v p="$params" -v b="$bb" -v f="$flops" 'BEGIN { printf "%s,%s,%s,%s,%.6g\n", a, w, p, b, f * 1e-9 }'
