-- only a comment;
;;  ;
