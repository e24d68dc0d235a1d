/* hookloop — the command-line entrypoint; the commands live in src/app/. */
#include "app/hl_cli.h"

int main(int argc, char **argv) { return hl_cli_main(argc, argv); }
