/* Data files compiled into librampart so that the tools work with nothing beside them:
 * the brand, shortener and TLD lists, the URL model, the guard's rule pack and classifiers. Each is followed by a NUL. */
#define EMBED(name, file)          \
    .section .rodata;              \
    .global rp__embed_##name;      \
rp__embed_##name:                  \
    .incbin file;                  \
    .global rp__embed_##name##_end; \
rp__embed_##name##_end:            \
    .byte 0

EMBED(brands, "conf/brands.txt")
EMBED(shorteners, "conf/shorteners.txt")
EMBED(suspicious_tlds, "conf/suspicious-tlds.txt")
EMBED(url_model, "conf/url-model.txt")
EMBED(guard_rules, "conf/guard-rules.yaml")
EMBED(guard_input_model, "conf/guard-input-model.txt")
EMBED(guard_output_model, "conf/guard-output-model.txt")

    .section .note.GNU-stack,"",@progbits
