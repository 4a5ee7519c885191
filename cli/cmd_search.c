int cmd_search(int argc, char **argv);
int cmd_search(int argc, char **argv) { (void)argc; (void)argv; return 2; }
