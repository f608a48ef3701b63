/* sluice/sluice.h - everything a plugin includes. */
#ifndef SLUICE_SLUICE_H
#define SLUICE_SLUICE_H

#include "sluice/message.h"
#include "sluice/plugin.h"
#include "sluice/value.h"

#define SLUICE_VERSION "0.1.0"

#endif
