/* in_nosym - loader test: a shared object without the sluice_plugin symbol. */
__attribute__((visibility("default"))) const int not_a_sluice_plugin = 1;
