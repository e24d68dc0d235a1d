/* hl_schema_cli.h — `hookloop schema check SCHEMA [INSTANCE...]`. */
#ifndef HL_SCHEMA_CLI_H
#define HL_SCHEMA_CLI_H

/* argv holds the arguments after "schema check". With no INSTANCE, reads one
 * JSON instance per stdin line and prints `valid` or `invalid <errors JSON>`
 * per line. Exit status: 0 all valid, 1 some invalid, 2 unusable
 * schema/file/usage. */
int hl_schema_cli_check(int argc, char **argv);

#endif
