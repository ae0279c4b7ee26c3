// flit/flit.h: everything an application needs.
//
//   flit::Nexus nexus(cfg);            // one per process
//   nexus.register_handler(id, fn);    // before the first Rpc
//   flit::Rpc rpc(nexus, 0);           // one per thread, polled
#pragma once

#include "flit/config.h"
#include "flit/error.h"
#include "flit/function.h"
#include "flit/msg_buffer.h"
#include "flit/nexus.h"
#include "flit/rpc.h"
#include "flit/stats.h"
#include "flit/status.h"
#include "flit/uri.h"
