// flit/wire/wire.h: everything generated message code (X.flit.h) needs.
//
// Header-only, independent of the RPC engine: it uses flit/status.h for
// result codes and nothing else of flit, so marshaling can be used (and
// tested, and cross-compiled) on its own. flit::MsgBuffer plugs in through
// the ResizableBuffer concept without being included here.
#pragma once

#include "flit/status.h"
#include "flit/wire/builder.h"
#include "flit/wire/endian.h"
#include "flit/wire/format.h"
#include "flit/wire/view.h"
