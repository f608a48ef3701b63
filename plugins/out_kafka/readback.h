/* readback.h - the Kafka output's recover() (readback.c). */
#ifndef SLUICE_OUT_KAFKA_READBACK_H
#define SLUICE_OUT_KAFKA_READBACK_H

#include "positions.h"

/* Read back what the topic got past the state file's start, hand its
 * recovery marks over, then start the positions at the end and write the
 * file. Gives up when the broker sends nothing for timeout_s. Main thread.
 * Returns 0, or -1 (said why). */
int readback_recover(const struct sl_instance *inst, struct positions *ps, int timeout_s);

#endif
