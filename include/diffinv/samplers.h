// Every sampler as a typed function (DESIGN §5), one header per sampler file under samplers/: the
// member initialisers are the published defaults; `visit` names and documents each field for the CLI
// and the sampler table; `check` holds the value checks that prepare_sampler runs once.
#pragma once
#include "diffinv/samplers/unconditional.h"
#include "diffinv/samplers/dps.h"
#include "diffinv/samplers/pigdm.h"
#include "diffinv/samplers/ddrm.h"
#include "diffinv/samplers/ddnm.h"
#include "diffinv/samplers/diffpir.h"
#include "diffinv/samplers/dmps.h"
#include "diffinv/samplers/cg_settings.h"
#include "diffinv/samplers/opc.h"
#include "diffinv/samplers/ca_dps.h"
#include "diffinv/samplers/hybrid.h"
#include "diffinv/samplers/mcg.h"
#include "diffinv/samplers/replacement.h"
#include "diffinv/samplers/red_diff.h"
#include "diffinv/samplers/langevin.h"
#include "diffinv/samplers/daps.h"
#include "diffinv/samplers/pnp_dm.h"
