/* vad_standalone.h: the firmware on its own: image source -> network -> head -> decision. */
#ifndef VAD_STANDALONE_H
#define VAD_STANDALONE_H

/* For every image of the source: one line on the UART,
 *   OK 0.83
 *   ANOMALY 1.42 cells 3,5 4,5       (row,col of the cells whose score is above threshold)
 * and the board's LED on for ANOMALY, off for OK; "ERROR model <status>" if the model fails.
 * When the source ends: "END <n> images". */
void vad_standalone_run(void);

#endif /* VAD_STANDALONE_H */
