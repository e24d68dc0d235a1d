/* hl_transform_cli.h — `hookloop transform check SPEC [EVENT...]`. */
#ifndef HL_TRANSFORM_CLI_H
#define HL_TRANSFORM_CLI_H

/* argv holds the arguments after "transform check". Prints one line per
 * event: the transformed event (compact JSON), or `error {"path":...,
 * "message":...}` where path points into the spec (or is "" when the event
 * is not JSON). With no EVENT, reads one event per stdin line. Exit status:
 * 0 all transformed, 1 some failed, 2 unusable spec/file/usage. */
int hl_transform_cli_check(int argc, char **argv);

#endif
